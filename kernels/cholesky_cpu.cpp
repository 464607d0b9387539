// Cholesky and triangular solves on the CPU, row-major, recursively blocked.
//
// Every routine splits its matrix in two at a fixed point (a function of the size only), solves
// the leading part, updates the trailing part with one GEMM, and recurses: the right-looking
// blocked algorithm with block sizes that halve. Almost all flops land in large GEMMs (near GEMM
// speed); the leaves (<= kLeaf rows) are short unblocked loops. Because the splits depend only on
// the sizes and gemm sums in a fixed order, the result does not depend on the thread count.
// Parallelism: inside the big GEMMs, and across independent row (column) blocks of the
// triangular solves, where each element is still computed by one thread in one fixed order.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "kernels/cholesky.h"
#include "kernels/gemm.h"
#include "tensor/error.h"
#include "tensor/strided.h"

namespace gs::kernels::cpu {
namespace {

using i64 = std::int64_t;

// Leaf size of the factorization and the solves: the unblocked work is O(N^2 * kLeaf) in total,
// small next to the O(N^3) in GEMM, while GEMMs with K < kLeaf would run far below peak.
constexpr i64 kLeaf = 32;
// Row strip height of the symmetric rank-k update: each strip's GEMM also computes the strict
// upper triangle of its diagonal block for nothing; at 128 that waste is < 128/N of the update.
constexpr i64 kSyrkLeaf = 128;
// Rows (or columns) per leaf work item: the item's panel (kLeaf x kChunk) stays in L1/L2.
constexpr i64 kChunk = 64;
// Below this many multiply-adds a solve or rank-k update runs on one thread (the fork costs more).
constexpr double kParallelFlops = 1 << 18;

// Split point of a size-n problem: about n/2, rounded to a multiple of 16 so that the GEMM
// blocks stay aligned with its micro-tiles. Always 0 < split < n for n > kLeaf.
i64 split(i64 n) { return std::clamp<i64>((n / 2 + 8) / 16 * 16, 1, n - 1); }

// ---- leaves ----------------------------------------------------------------------------------

// Unblocked Cholesky-Banachiewicz on an n x n block (n <= kLeaf), row by row:
//   l_ij = (a_ij - sum_{p<j} l_ip l_jp) / l_jj,   l_ii = sqrt(a_ii - sum_{p<i} l_ip^2).
// `offset` is the block's position in the whole matrix, for the error message.
template <class T>
void potrf_leaf(i64 n, T* a, i64 lda, i64 offset) {
    const SubstitutionStep step;
    const CholeskyDiagonal diag;
    for (i64 i = 0; i < n; ++i) {
        T* ai = a + i * lda;
        for (i64 j = 0; j < i; ++j) {
            const T* aj = a + j * lda;
            T s = 0;
            for (i64 p = 0; p < j; ++p) s += ai[p] * aj[p];
            ai[j] = step(ai[j], s, aj[j]);
        }
        T s = 0;
        for (i64 p = 0; p < i; ++p) s += ai[p] * ai[p];
        const T d = ai[i] - s;
        // NOTE: written as !(d > 0) so that a NaN pivot is rejected too.
        if (!(d > T(0)))
            GS_FAIL("cholesky: the matrix is not positive definite: pivot ", offset + i, " is ", double(d),
                    " (must be > 0; the pivot is a_ii minus the squares already eliminated from row ", offset + i,
                    ")");
        ai[i] = diag(d);
    }
}

// X L^T = B for X (m x n, n <= kLeaf), in place in x; L lower n x n. Row r of X solves
// L x_r^T = b_r^T by forward substitution. Each chunk of kChunk rows is copied transposed into a
// small buffer so the inner loop runs over contiguous rows (vectorizes) instead of a dot product.
// Serial: the callers parallelize over independent rows (see trsm_right_lt_parallel).
template <class T>
void trsm_right_lt_leaf(i64 m, i64 n, const T* l, i64 ldl, T* x, i64 ldx) {
    const i64 chunks = (m + kChunk - 1) / kChunk;
    for (i64 c = 0; c < chunks; ++c) {
        const i64 r0 = c * kChunk, rb = std::min(kChunk, m - r0);
        T buf[kLeaf * kChunk];  // buf[j * kChunk + r] = x(r0 + r, j)
        T s[kChunk];
        for (i64 r = 0; r < rb; ++r)
            for (i64 j = 0; j < n; ++j) buf[j * kChunk + r] = x[(r0 + r) * ldx + j];
        const SubstitutionStep step;
        for (i64 j = 0; j < n; ++j) {
            for (i64 r = 0; r < rb; ++r) s[r] = T(0);
            for (i64 p = 0; p < j; ++p) {
                const T ljp = l[j * ldl + p];
                const T* bp = buf + p * kChunk;
                for (i64 r = 0; r < rb; ++r) s[r] += ljp * bp[r];
            }
            const T ljj = l[j * ldl + j];
            T* bj = buf + j * kChunk;
            for (i64 r = 0; r < rb; ++r) bj[r] = step(bj[r], s[r], ljj);
        }
        for (i64 r = 0; r < rb; ++r)
            for (i64 j = 0; j < n; ++j) x[(r0 + r) * ldx + j] = buf[j * kChunk + r];
    }
}

// L X = B (forward) or L^T X = B (backward) for X (n x m, n <= kLeaf), in place in b. Row i of X
// is a combination of rows already solved, so the inner loop runs along a row (vectorizes).
// Serial: the callers parallelize over independent columns (see trsm_left_parallel).
template <class T>
void trsm_left_leaf(bool transpose, i64 n, i64 m, const T* l, i64 ldl, T* b, i64 ldb) {
    constexpr i64 CB = 4 * kChunk;
    const i64 chunks = (m + CB - 1) / CB;
    for (i64 c = 0; c < chunks; ++c) {
        const i64 c0 = c * CB, cb = std::min(CB, m - c0);
        T s[CB];
        const SubstitutionStep step;
        for (i64 t = 0; t < n; ++t) {
            // Forward: row i = t uses rows p < i with l_ip. Backward: row i = n-1-t uses rows p > i
            // with l_pi (the transpose), in increasing p.
            const i64 i = transpose ? n - 1 - t : t;
            for (i64 r = 0; r < cb; ++r) s[r] = T(0);
            const i64 p0 = transpose ? i + 1 : 0, p1 = transpose ? n : i;
            for (i64 p = p0; p < p1; ++p) {
                const T lip = transpose ? l[p * ldl + i] : l[i * ldl + p];
                const T* bp = b + p * ldb + c0;
                for (i64 r = 0; r < cb; ++r) s[r] += lip * bp[r];
            }
            const T lii = l[i * ldl + i];
            T* bi = b + i * ldb + c0;
            for (i64 r = 0; r < cb; ++r) bi[r] = step(bi[r], s[r], lii);
        }
    }
}

// ---- recursive routines ----------------------------------------------------------------------

// X L^T = B, X: m x n in place in x, L: n x n lower.
template <class T>
void trsm_right_lt(i64 m, i64 n, const T* l, i64 ldl, T* x, i64 ldx) {
    if (m == 0 || n == 0) return;
    if (n <= kLeaf) return trsm_right_lt_leaf(m, n, l, ldl, x, ldx);
    const i64 n1 = split(n), n2 = n - n1;
    // [X1 X2] [L11^T L21^T; 0 L22^T] = [B1 B2]:  X1 L11^T = B1,  X2 L22^T = B2 - X1 L21^T.
    trsm_right_lt(m, n1, l, ldl, x, ldx);
    gemm<T>(false, true, m, n2, n1, T(-1), x, ldx, l + n1 * ldl, ldl, T(1), x + n1, ldx);
    trsm_right_lt(m, n2, l + n1 * ldl + n1, ldl, x + n1, ldx);
}

// Rows of X in X L^T = B are independent, and so are columns of X in L X = B: the wrappers below
// cut them into blocks, one OpenMP task per block, each solved by the serial recursion (gemm runs
// serially inside a parallel region). One parallel region per solve instead of one per leaf and
// per GEMM keeps the fork/barrier count low, which matters on a loaded machine. Each element gets
// the same operations in the same order whatever the blocking (gemm's per-element sum order does
// not depend on M or N), so the result is independent of the thread count.
constexpr i64 kPanelBlock = 128;

template <class T>
void trsm_right_lt_parallel(i64 m, i64 n, const T* l, i64 ldl, T* x, i64 ldx) {
    const i64 blocks = (m + kPanelBlock - 1) / kPanelBlock;
    const bool parallel = blocks > 1 && double(m) * double(n) * double(n) >= kParallelFlops && !omp_in_parallel();
#pragma omp parallel for if (parallel) schedule(dynamic, 1)
    for (i64 blk = 0; blk < blocks; ++blk) {
        const i64 r0 = blk * kPanelBlock;
        trsm_right_lt(std::min(kPanelBlock, m - r0), n, l, ldl, x + r0 * ldx, ldx);
    }
}

// C -= A A^T on the lower triangle of C (n x n); A: n x k. One GEMM per strip of kSyrkLeaf rows,
// reaching from column 0 to the strip's diagonal block, so only the strict upper triangle of the
// diagonal blocks is computed for nothing (and overwritten with scratch values). The strips are
// independent: one parallel region, each strip a serial gemm, largest strips first.
template <class T>
void syrk_lower_minus(i64 n, i64 k, const T* a, i64 lda, T* c, i64 ldc) {
    if (n == 0 || k == 0) return;
    const i64 strips = (n + kSyrkLeaf - 1) / kSyrkLeaf;
    const bool parallel = strips > 1 && double(n) * double(n) * double(k) >= 2 * kParallelFlops && !omp_in_parallel();
#pragma omp parallel for if (parallel) schedule(dynamic, 1)
    for (i64 t = 0; t < strips; ++t) {
        const i64 s = strips - 1 - t;
        const i64 r0 = s * kSyrkLeaf, r1 = std::min(n, r0 + kSyrkLeaf);
        gemm<T>(false, true, r1 - r0, r1, k, T(-1), a + r0 * lda, lda, a, lda, T(1), c + r0 * ldc, ldc);
    }
}

template <class T>
void potrf_rec(i64 n, T* a, i64 lda, i64 offset) {
    if (n == 0) return;
    if (n <= kLeaf) return potrf_leaf(n, a, lda, offset);
    const i64 n1 = split(n), n2 = n - n1;
    // [A11 .; A21 A22] = [L11 0; L21 L22] [L11^T L21^T; 0 L22^T]:
    //   A11 = L11 L11^T,  L21 = A21 L11^{-T},  L22 L22^T = A22 - L21 L21^T.
    potrf_rec(n1, a, lda, offset);
    trsm_right_lt_parallel(n2, n1, a, lda, a + n1 * lda, lda);
    syrk_lower_minus(n2, n1, a + n1 * lda, lda, a + n1 * lda + n1, lda);
    potrf_rec(n2, a + n1 * lda + n1, lda, offset + n1);
}

template <class T>
void trsm_left(bool transpose, i64 n, i64 m, const T* l, i64 ldl, T* b, i64 ldb) {
    if (n == 0 || m == 0) return;
    if (n <= kLeaf) return trsm_left_leaf(transpose, n, m, l, ldl, b, ldb);
    const i64 n1 = split(n), n2 = n - n1;
    const T* l21 = l + n1 * ldl;  // (n2 x n1)
    const T* l22 = l21 + n1;
    if (!transpose) {
        // L11 X1 = B1;  L22 X2 = B2 - L21 X1.
        trsm_left(false, n1, m, l, ldl, b, ldb);
        gemm<T>(false, false, n2, m, n1, T(-1), l21, ldl, b, ldb, T(1), b + n1 * ldb, ldb);
        trsm_left(false, n2, m, l22, ldl, b + n1 * ldb, ldb);
    } else {
        // L22^T X2 = B2;  L11^T X1 = B1 - L21^T X2.
        trsm_left(true, n2, m, l22, ldl, b + n1 * ldb, ldb);
        gemm<T>(true, false, n1, m, n2, T(-1), l21, ldl, b + n1 * ldb, ldb, T(1), b, ldb);
        trsm_left(true, n1, m, l, ldl, b, ldb);
    }
}

}  // namespace

template <class T>
void potrf_lower(i64 N, T* a, i64 lda) {
    GS_CHECK(N >= 0 && lda >= std::max<i64>(N, 1), "potrf_lower: bad size N=", N, " lda=", lda);
    potrf_rec(N, a, lda, 0);
}

template <class T>
void trsm_lower_left(bool transpose, i64 N, i64 M, const T* l, i64 ldl, T* b, i64 ldb) {
    GS_CHECK(N >= 0 && M >= 0 && ldl >= std::max<i64>(N, 1) && ldb >= std::max<i64>(M, 1),
             "trsm_lower_left: bad sizes N=", N, " M=", M, " ldl=", ldl, " ldb=", ldb);
    // Columns of B are independent: blocks of columns in parallel (see trsm_right_lt_parallel).
    const i64 blocks = (M + kPanelBlock - 1) / kPanelBlock;
    const bool parallel = blocks > 1 && double(M) * double(N) * double(N) >= kParallelFlops && !omp_in_parallel();
#pragma omp parallel for if (parallel) schedule(dynamic, 1)
    for (i64 blk = 0; blk < blocks; ++blk) {
        const i64 c0 = blk * kPanelBlock;
        trsm_left(transpose, N, std::min(kPanelBlock, M - c0), l, ldl, b + c0, ldb);
    }
}

template void potrf_lower<float>(i64, float*, i64);
template void potrf_lower<double>(i64, double*, i64);
template void trsm_lower_left<float>(bool, i64, i64, const float*, i64, float*, i64);
template void trsm_lower_left<double>(bool, i64, i64, const double*, i64, double*, i64);

void cholesky_inplace(Tensor& a, double lambda) {
    visit_float(a.dtype(), "cholesky", [&](auto tag) {
        using T = decltype(tag);
        const i64 N = a.size(0);
        T* p = a.data<T>();
        if (lambda != 0.0)
            for (i64 i = 0; i < N; ++i) p[i * N + i] += T(lambda);
        potrf_lower<T>(N, p, std::max<i64>(N, 1));
        // The factorization leaves scratch in the strict upper triangle; L is lower triangular.
#pragma omp parallel for if (N * N >= 4 * kParallelGrain) schedule(static)
        for (i64 i = 0; i < N; ++i)
            for (i64 j = i + 1; j < N; ++j) p[i * N + j] = T(0);
    });
}

void triangular_solve_inplace(const Tensor& l, bool transpose, Tensor& x) {
    visit_float(l.dtype(), "triangular_solve", [&](auto tag) {
        using T = decltype(tag);
        const i64 N = l.size(0), M = x.dim() == 2 ? x.size(1) : 1;
        trsm_lower_left<T>(transpose, N, M, l.data<T>(), std::max<i64>(N, 1), x.data<T>(), std::max<i64>(M, 1));
    });
}

}  // namespace gs::kernels::cpu
