#pragma once
// Cholesky factorization A = L L^T of a symmetric positive definite matrix, the two triangular
// solves with L, and the SPD solve built from them (f32/f64, row-major, CPU or CUDA). On the CPU
// the O(N^3) work runs in kernels::gemm; only O(N^2 * leaf) work is done by the small unblocked
// loops at the leaves. On CUDA, cuSOLVER and cuBLAS do it.
// No pivoting and no LDL^T: a matrix that is not positive definite is rejected, not repaired.
#include <cmath>
#include <cstdint>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace gs::kernels {

// The diagonal entry of L from the pivot d = a_jj - sum_p l_jp^2 (d > 0 was checked before).
struct CholeskyDiagonal {
    template <class T>
    GS_HOST_DEVICE T operator()(T d) const { return std::sqrt(d); }
};

// One step of a substitution: x = (b - s) / l_jj, with s the sum over the entries already solved.
struct SubstitutionStep {
    template <class T>
    GS_HOST_DEVICE T operator()(T b, T s, T l_jj) const { return (b - s) / l_jj; }
};

// a: (N, N) f32/f64, symmetric positive definite; only the lower triangle (diagonal included)
// is read, so the upper one may hold anything. lambda >= 0 is added to the diagonal first (ridge),
// i.e. this factors A + lambda I. Returns L: (N, N) contiguous, lower triangular with a positive
// diagonal, strict upper triangle 0. Throws naming the pivot index and value when a pivot is not
// > 0 (not positive definite, or NaN in the input), and on non-square or non-2-d inputs.
// Deterministic: the result does not depend on the number of OpenMP threads.
Tensor cholesky(const Tensor& a, double lambda = 0.0);

// As cholesky(), but overwrites a (contiguous (N, N)) with L and allocates nothing, for matrices
// too large to copy (an N = 40,000 f64 kernel matrix is 12.8 GB). On a throw a holds a partially
// factored matrix.
void cholesky_inplace(Tensor& a, double lambda = 0.0);

// l: (N, N) lower triangular with a nonzero diagonal (only the lower triangle is read);
// b: (N, M) or (N), same dtype. Returns x (b's shape, contiguous) with
//   L x = b     (transpose == false, forward substitution)
//   L^T x = b   (transpose == true,  back substitution).
Tensor triangular_solve(const Tensor& l, const Tensor& b, bool transpose);

// a: (N, N) SPD as for cholesky(); b: (N, M) or (N), same dtype. Returns x (b's shape) with
// (A + lambda I) x = b, by cholesky() and the two triangular solves.
Tensor cholesky_solve(const Tensor& a, const Tensor& b, double lambda = 0.0);

// l: the factor returned by cholesky(); b as for cholesky_solve. Returns x with L L^T x = b.
Tensor cholesky_solve_factored(const Tensor& l, const Tensor& b);

namespace cpu {
// Raw row-major kernels, in place. potrf: the lower triangle of a (N x N, leading dim lda) is
// overwritten by L; the strict upper triangle is left with scratch values (the Tensor entry
// points zero it). Throws gs::Error on a pivot <= 0 or NaN.
template <class T>
void potrf_lower(std::int64_t N, T* a, std::int64_t lda);
// b (N x M, leading dim ldb) is overwritten by L^{-1} b (transpose false) or L^{-T} b (true).
template <class T>
void trsm_lower_left(bool transpose, std::int64_t N, std::int64_t M, const T* l, std::int64_t ldl, T* b,
                     std::int64_t ldb);

// Tensor-level: a contiguous (N, N); adds lambda to the diagonal, factors, zeroes the upper triangle.
void cholesky_inplace(Tensor& a, double lambda);
// l: (N, N) contiguous; x: (N, M) contiguous, holds b on entry and the solution on return.
void triangular_solve_inplace(const Tensor& l, bool transpose, Tensor& x);
}  // namespace cpu

namespace cuda {
// The same two contracts on one CUDA device (cholesky_cusolver.cpp: cuSOLVER potrf, cuBLAS trsm).
void cholesky_inplace(Tensor& a, double lambda);
void triangular_solve_inplace(const Tensor& l, bool transpose, Tensor& x);
// Sets the strict upper triangle of a contiguous (N, N) matrix to 0 (cholesky_cuda.cu).
void zero_strict_upper(Tensor& a);
}  // namespace cuda

}  // namespace gs::kernels
