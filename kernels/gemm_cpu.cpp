// The packed, cache-blocked CPU GEMM (Goto/BLIS structure, portable inner kernel).
//
// Loop nest, outermost first:
//   jc: columns of C in blocks of NC   - a KC x NC panel of op(B) is packed once and shared
//   pc: the K dimension in blocks of KC, in increasing order (this fixes each element's sum order)
//   tiles of (MC rows) x (a run of NR-wide column panels) - one OpenMP thread per tile; the tile's
//       MC x KC block of op(A) is packed into the thread's own buffer
//   jr, ir: NR- and MR-wide micro-panels, multiplied by micro_kernel() into an MR x NR register tile.
// Packed panels are zero-padded to full MR/NR width, so the micro-kernel has no edge cases; the
// padding only feeds accumulator entries that are never stored.
// A hand-tuned AVX-512/AVX2 micro-kernel chosen at run time is a separate issue; this one is plain
// C++ that the compiler vectorizes along NR.
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "kernels/gemm.h"
#include "kernels/scratch.h"
#include "tensor/error.h"

namespace gs::kernels::cpu {
namespace {

using i64 = std::int64_t;

// Register tile MR x NR (NR = one 64-byte line of T) and cache blocks. MC x KC of A is meant for
// L2, KC x NR of B for L1, KC x NC of B for L3 / the shared part of L2.
template <class T> struct Blocking;
template <> struct Blocking<float> {
    static constexpr i64 MR = 4, NR = 16, MC = 128, KC = 256, NC = 2048;
};
template <> struct Blocking<double> {
    static constexpr i64 MR = 4, NR = 8, MC = 96, KC = 256, NC = 1024;
};

// Below this many multiply-adds the OpenMP fork costs more than it saves.
constexpr double kParallelFlops = 64.0 * 64.0 * 64.0;

i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

// Packs rows [i0, i0+mc) x cols [p0, p0+kc) of op(A) as ceil(mc/MR) micro-panels, each stored
// k-major (dst[k*MR + ii]) and zero-padded to MR rows.
template <class T>
void pack_a(bool trans_a, const T* A, i64 lda, i64 i0, i64 mc, i64 p0, i64 kc, T* dst) {
    constexpr i64 MR = Blocking<T>::MR;
    for (i64 ir = 0; ir < mc; ir += MR) {
        const i64 mr = std::min(MR, mc - ir);
        T* d = dst + ir * kc;
        if (trans_a) {
            // op(A)(i, k) = A[k*lda + i]: rows of the panel are contiguous in memory.
            for (i64 k = 0; k < kc; ++k) {
                const T* src = A + (p0 + k) * lda + i0 + ir;
                for (i64 ii = 0; ii < mr; ++ii) d[k * MR + ii] = src[ii];
                for (i64 ii = mr; ii < MR; ++ii) d[k * MR + ii] = T(0);
            }
        } else {
            for (i64 ii = 0; ii < mr; ++ii) {
                const T* src = A + (i0 + ir + ii) * lda + p0;
                for (i64 k = 0; k < kc; ++k) d[k * MR + ii] = src[k];
            }
            for (i64 ii = mr; ii < MR; ++ii)
                for (i64 k = 0; k < kc; ++k) d[k * MR + ii] = T(0);
        }
    }
}

// Packs micro-panel number `jp` (columns [j0 + jp*NR, +NR)) of the kc x nc block of op(B) starting
// at (p0, j0), stored k-major (dst[k*NR + jj]) and zero-padded to NR columns.
template <class T>
void pack_b_panel(bool trans_b, const T* B, i64 ldb, i64 p0, i64 kc, i64 j0, i64 nc, i64 jp, T* dst) {
    constexpr i64 NR = Blocking<T>::NR;
    const i64 jr = jp * NR;
    const i64 nr = std::min(NR, nc - jr);
    T* d = dst + jr * kc;
    if (trans_b) {
        // op(B)(k, j) = B[j*ldb + k]
        for (i64 jj = 0; jj < nr; ++jj) {
            const T* src = B + (j0 + jr + jj) * ldb + p0;
            for (i64 k = 0; k < kc; ++k) d[k * NR + jj] = src[k];
        }
        for (i64 jj = nr; jj < NR; ++jj)
            for (i64 k = 0; k < kc; ++k) d[k * NR + jj] = T(0);
    } else {
        for (i64 k = 0; k < kc; ++k) {
            const T* src = B + (p0 + k) * ldb + j0 + jr;
            for (i64 jj = 0; jj < nr; ++jj) d[k * NR + jj] = src[jj];
            for (i64 jj = nr; jj < NR; ++jj) d[k * NR + jj] = T(0);
        }
    }
}

// acc = sum_k a[:, k] b[k, :] over one packed MR micro-panel of A and NR micro-panel of B, then
// stores the valid mr x nr corner into C:
//   first_k_block: C = alpha*acc + beta*C (C not read when beta == 0)
//   otherwise:     C = alpha*acc + C      (adds the next block of k in order)
template <class T>
void micro_kernel(i64 kc, const T* __restrict a, const T* __restrict b, T* C, i64 ldc, i64 mr, i64 nr,
                  T alpha, T beta, bool first_k_block) {
    constexpr i64 MR = Blocking<T>::MR, NR = Blocking<T>::NR;
    // One row of the register tile is one 64-byte GCC/Clang vector (NR * sizeof(T) == 64); the
    // compiler lowers it to whatever SIMD width the target has. Each lane sums k in order.
    typedef T Row __attribute__((vector_size(NR * sizeof(T))));
    static_assert(sizeof(Row) == NR * sizeof(T));
    Row acc[MR];
    for (i64 i = 0; i < MR; ++i) acc[i] = Row{};
    for (i64 k = 0; k < kc; ++k) {
        Row bk;
        __builtin_memcpy(&bk, b + k * NR, sizeof(Row));
        for (i64 i = 0; i < MR; ++i) acc[i] += bk * a[k * MR + i];
    }
    for (i64 i = 0; i < mr; ++i) {
        T* c = C + i * ldc;
        if (!first_k_block) {
            for (i64 j = 0; j < nr; ++j) c[j] = alpha * acc[i][j] + c[j];
        } else if (beta == T(0)) {
            for (i64 j = 0; j < nr; ++j) c[j] = alpha * acc[i][j];
        } else {
            for (i64 j = 0; j < nr; ++j) c[j] = alpha * acc[i][j] + beta * c[j];
        }
    }
}

// C = beta * C without reading C when beta == 0 (the K == 0 / alpha == 0 case).
template <class T>
void scale_c(i64 M, i64 N, T beta, T* C, i64 ldc) {
    for (i64 i = 0; i < M; ++i) {
        T* c = C + i * ldc;
        if (beta == T(0)) {
            for (i64 j = 0; j < N; ++j) c[j] = T(0);
        } else {
            for (i64 j = 0; j < N; ++j) c[j] = beta * c[j];
        }
    }
}

}  // namespace

template <class T>
void gemm(bool trans_a, bool trans_b, i64 M, i64 N, i64 K, T alpha, const T* A, i64 lda, const T* B,
          i64 ldb, T beta, T* C, i64 ldc) {
    GS_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M=", M, " N=", N, " K=", K);
    GS_CHECK(ldc >= std::max<i64>(N, 1), "gemm: ldc=", ldc, " is smaller than N=", N);
    GS_CHECK(lda >= std::max<i64>(trans_a ? M : K, 1), "gemm: lda=", lda, " is smaller than the row length ",
             trans_a ? M : K, " of ", trans_a ? "A^T" : "A");
    GS_CHECK(ldb >= std::max<i64>(trans_b ? K : N, 1), "gemm: ldb=", ldb, " is smaller than the row length ",
             trans_b ? K : N, " of ", trans_b ? "B^T" : "B");
    if (M == 0 || N == 0) return;
    if (K == 0 || alpha == T(0)) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    using Bk = Blocking<T>;
    constexpr i64 MR = Bk::MR, NR = Bk::NR, MC = Bk::MC, KC = Bk::KC, NC = Bk::NC;

    const bool parallel = !omp_in_parallel() && omp_get_max_threads() > 1 &&
                          double(M) * double(N) * double(K) >= kParallelFlops;
    const i64 threads = parallel ? omp_get_max_threads() : 1;

    // The packed B panel belongs to the calling thread and is shared by the whole team.
    T* bpack = thread_scratch(ScratchSlot::gemm_b).get<T>(std::size_t(KC * std::min(NC, ceil_div(N, NR) * NR)));

    for (i64 jc = 0; jc < N; jc += NC) {
        const i64 nc = std::min(NC, N - jc);
        const i64 panels_b = ceil_div(nc, NR);
        // Tiles: MC rows x `tile_panels` NR-panels. With few row blocks, split the columns too so
        // every thread gets work; the split changes who computes an element, never its sum order.
        const i64 tiles_m = ceil_div(M, MC);
        const i64 splits_n = std::min(panels_b, std::max<i64>(1, ceil_div(2 * threads, tiles_m)));
        const i64 tile_panels = ceil_div(panels_b, splits_n);
        const i64 tiles_n = ceil_div(panels_b, tile_panels);
        for (i64 pc = 0; pc < K; pc += KC) {
            const i64 kc = std::min(KC, K - pc);
            const bool first = pc == 0;
#pragma omp parallel if (parallel)
            {
#pragma omp for schedule(static)
                for (i64 jp = 0; jp < panels_b; ++jp) pack_b_panel(trans_b, B, ldb, pc, kc, jc, nc, jp, bpack);
                // (implicit barrier: the whole B panel is packed before anyone multiplies)
                T* apack = thread_scratch(ScratchSlot::gemm_a).get<T>(std::size_t(MC * KC));
#pragma omp for schedule(static)
                for (i64 t = 0; t < tiles_m * tiles_n; ++t) {
                    const i64 ic = (t / tiles_n) * MC;
                    const i64 mc = std::min(MC, M - ic);
                    const i64 jp0 = (t % tiles_n) * tile_panels;
                    const i64 jp1 = std::min(panels_b, jp0 + tile_panels);
                    pack_a(trans_a, A, lda, ic, mc, pc, kc, apack);
                    for (i64 jp = jp0; jp < jp1; ++jp) {
                        const i64 jr = jp * NR;
                        const i64 nr = std::min(NR, nc - jr);
                        for (i64 ir = 0; ir < mc; ir += MR) {
                            const i64 mr = std::min(MR, mc - ir);
                            micro_kernel(kc, apack + ir * kc, bpack + jr * kc, C + (ic + ir) * ldc + jc + jr, ldc,
                                         mr, nr, alpha, beta, first);
                        }
                    }
                }
            }
        }
    }
}

template void gemm<float>(bool, bool, i64, i64, i64, float, const float*, i64, const float*, i64, float, float*, i64);
template void gemm<double>(bool, bool, i64, i64, i64, double, const double*, i64, const double*, i64, double,
                           double*, i64);

ScratchBuffer& thread_scratch(ScratchSlot slot) {
    thread_local ScratchBuffer buffers[4];
    return buffers[int(slot)];
}

}  // namespace gs::kernels::cpu
