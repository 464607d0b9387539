#pragma once
// The row-major to column-major translation of a GEMM call, as plain arithmetic so that it is
// tested on the CPU (tests/test_kernels_cublas_args.cpp runs a naive column-major BLAS reference
// on these arguments); gemm_cublas.cpp passes them to cuBLAS unchanged.
//
// A row-major M x N matrix C with leading dimension ldc has the same bytes as the column-major
// N x M matrix C^T with the same leading dimension. So the row-major C = op(A) op(B) is computed
// as the column-major C^T = op(B)^T op(A)^T: the operands are swapped (B first), m = N, n = M, and
// each keeps its own transpose flag (a row-major matrix that is not transposed is, read
// column-major, already the transpose that the product needs). No data moves.
#include <algorithm>
#include <cstdint>

namespace gs::kernels::cublas_args {

// The arguments of cublas<t>gemm(handle, transa, transb, m, n, k, alpha, A, lda, B, ldb, beta, C,
// ldc) in column-major terms; `first` is cuBLAS's A (our B) and `second` cuBLAS's B (our A).
struct ColumnMajorGemm {
    bool trans_first, trans_second;
    std::int64_t m, n, k;
    std::int64_t ld_first, ld_second, ldc;

    // cuBLAS's argument rules (CUBLAS_STATUS_INVALID_VALUE otherwise): sizes >= 0 and each leading
    // dimension >= max(1, rows of the stored column-major matrix).
    bool valid() const {
        return m >= 0 && n >= 0 && k >= 0 && ld_first >= std::max<std::int64_t>(1, trans_first ? k : m) &&
               ld_second >= std::max<std::int64_t>(1, trans_second ? n : k) && ldc >= std::max<std::int64_t>(1, m);
    }
};

// For the row-major call of kernels::cpu::gemm (gemm.h): C (M x N) = op(A) (M x K) op(B) (K x N).
inline ColumnMajorGemm from_row_major(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                                      std::int64_t lda, std::int64_t ldb, std::int64_t ldc) {
    return {trans_b, trans_a, N, M, K, ldb, lda, ldc};
}

}  // namespace gs::kernels::cublas_args
