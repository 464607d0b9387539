// The row-major to column-major translation of GEMM calls for cuBLAS (kernels/cublas_args.h), on
// the CPU: a naive column-major GEMM with BLAS's documented semantics, run on the translated
// arguments with the operands swapped, must reproduce the row-major product of kernels::gemm for
// every transpose combination and padded leading dimensions, and every layout that matmul's plan
// produces must pass cuBLAS's argument rules.
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cublas_args.h"
#include "kernels/gemm.h"
#include "kernels/matmul_plan.h"
#include "tensor/random.h"

namespace {

namespace ca = gs::kernels::cublas_args;
using i64 = std::int64_t;

// BLAS gemm, column-major: C(i, j) = sum_l opA(i, l) opB(l, j) for i < m, j < n, with element
// (r, c) of a stored matrix X at X[r + c*ldx] and opX reading it transposed when transX.
void colmajor_gemm(bool ta, bool tb, i64 m, i64 n, i64 k, const std::vector<double>& A, i64 lda,
                   const std::vector<double>& B, i64 ldb, std::vector<double>& C, i64 ldc) {
    for (i64 j = 0; j < n; ++j)
        for (i64 i = 0; i < m; ++i) {
            double s = 0;
            for (i64 l = 0; l < k; ++l) {
                const double a = ta ? A[std::size_t(l + i * lda)] : A[std::size_t(i + l * lda)];
                const double b = tb ? B[std::size_t(j + l * ldb)] : B[std::size_t(l + j * ldb)];
                s += a * b;
            }
            C[std::size_t(i + j * ldc)] = s;
        }
}

std::vector<double> random_values(i64 n, gs::Generator& g) {
    return gs::uniform({std::max<i64>(n, 1)}, g, -1.0, 1.0, gs::DType::f64).to_vector<double>();
}

}  // namespace

TEST_CASE("cublas args reproduce the row-major product") {
    gs::Generator g(61);
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (auto [M, N, K] : std::vector<std::array<i64, 3>>{{1, 1, 1}, {3, 5, 7}, {7, 2, 4}, {4, 6, 1}, {1, 9, 3}}) {
                // Row-major storage with padded leading dimensions (pad 2 beyond the row length).
                const i64 lda = (ta ? M : K) + 2, ldb = (tb ? K : N) + 2, ldc = N + 2;
                const auto A = random_values((ta ? K : M) * lda, g), B = random_values((tb ? N : K) * ldb, g);
                std::vector<double> want(std::size_t(M * ldc), 0.0), got(std::size_t(M * ldc), 0.0);
                gs::kernels::cpu::gemm<double>(ta, tb, M, N, K, 1.0, A.data(), lda, B.data(), ldb, 0.0, want.data(), ldc);
                const ca::ColumnMajorGemm c = ca::from_row_major(ta, tb, M, N, K, lda, ldb, ldc);
                CAPTURE(ta);
                CAPTURE(tb);
                CAPTURE(M);
                CAPTURE(N);
                CAPTURE(K);
                CHECK(c.valid());
                colmajor_gemm(c.trans_first, c.trans_second, c.m, c.n, c.k, B, c.ld_first, A, c.ld_second, got, c.ldc);
                double worst = 0;
                for (i64 i = 0; i < M; ++i)
                    for (i64 j = 0; j < N; ++j)
                        worst = std::max(worst, std::abs(got[std::size_t(i * ldc + j)] - want[std::size_t(i * ldc + j)]));
                CHECK(worst <= 1e-13);  // the same K-term sums in f64, summed in possibly different orders
            }
}

TEST_CASE("cublas args of matmul plan layouts satisfy cuBLAS argument rules") {
    namespace mp = gs::kernels::matmul_plan;
    // Every shape class the plan accepts in place, including single rows and columns where it
    // picks the leading dimension itself.
    for (i64 rows : {1, 2, 5})
        for (i64 cols : {1, 3, 4}) {
            const gs::Tensor base = gs::Tensor::zeros({rows, cols});
            for (const gs::Tensor& t : {base, gs::Tensor::zeros({cols, rows}).t(), gs::Tensor::zeros({rows, cols + 3}).narrow(1, 0, cols)}) {
                const mp::GemmOperand l = mp::layout_of(mp::gemm_ready(t));
                // Used as A (M = rows, K = cols) against a K x 2 B, and as B (K = rows, N = cols).
                CHECK(ca::from_row_major(l.trans, false, rows, 2, cols, l.ld, 2, 2).valid());
                CHECK(ca::from_row_major(false, l.trans, 2, cols, rows, rows, l.ld, cols).valid());
            }
        }
    // A too-small leading dimension is caught before cuBLAS would reject it.
    CHECK_FALSE(ca::from_row_major(false, false, 3, 4, 5, 4, 4, 4).valid());  // lda 4 < K 5
    CHECK_FALSE(ca::from_row_major(false, false, 3, 4, 5, 5, 4, 3).valid());  // ldc 3 < N 4
}
