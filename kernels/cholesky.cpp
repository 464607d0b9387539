// Cholesky entry points: shape, dtype and device checks, then the CPU or CUDA implementation.
#include "kernels/cholesky.h"

#include <cmath>

#include "kernels/dispatch.h"

namespace gs::kernels {
namespace {

void check_square(const char* op, const Tensor& a, const char* what) {
    GS_CHECK(is_floating(a.dtype()), op, ": expected an f32 or f64 ", what, ", got ", a.describe());
    GS_CHECK(a.dim() == 2 && a.size(0) == a.size(1), op, ": ", what, " must be a square (N, N) matrix, got ",
             a.describe());
}

// Throws unless b is (N) or (N, M) with the matrix's N, dtype and device.
void check_rhs(const char* op, const Tensor& mat, const Tensor& b) {
    check_same_device(op, {&mat, &b});
    check_same_dtype(op, {&mat, &b});
    GS_CHECK((b.dim() == 1 || b.dim() == 2) && b.size(0) == mat.size(0), op,
             ": the right-hand side must be (N) or (N, M) with N = ", mat.size(0), " (the matrix is ",
             mat.describe(), "), got ", b.describe());
}

// A contiguous (N, M) copy of b to solve in place, M = 1 for a vector.
Tensor rhs_copy(const char* op, const Tensor& mat, const Tensor& b) {
    check_rhs(op, mat, b);
    Tensor x = Tensor::empty(b.dim() == 2 ? b.shape() : Shape{b.size(0), 1}, b.dtype(), b.device());
    x.copy_(b.dim() == 2 ? b : b.unsqueeze(1));
    return x;
}

void factor(const char* op, Tensor& a, double lambda) {
    if (use_cuda(op, {&a})) GS_CUDA_CALL(cuda::cholesky_inplace(a, lambda));
    else cpu::cholesky_inplace(a, lambda);
}

void solve(const char* op, const Tensor& l, bool transpose, Tensor& x) {
    if (use_cuda(op, {&l, &x})) GS_CUDA_CALL(cuda::triangular_solve_inplace(l, transpose, x));
    else cpu::triangular_solve_inplace(l, transpose, x);
}

void check_lambda(const char* op, double lambda) {
    GS_CHECK(std::isfinite(lambda) && lambda >= 0.0, op, ": the ridge lambda must be finite and >= 0, got ", lambda);
}

}  // namespace

void cholesky_inplace(Tensor& a, double lambda) {
    const char* op = "cholesky_inplace";
    check_square(op, a, "matrix");
    check_contiguous(op, a, "matrix");
    check_lambda(op, lambda);
    factor(op, a, lambda);
}

Tensor cholesky(const Tensor& a, double lambda) {
    const char* op = "cholesky";
    check_square(op, a, "matrix");
    check_lambda(op, lambda);
    Tensor l = a.clone();
    factor(op, l, lambda);
    return l;
}

Tensor triangular_solve(const Tensor& l, const Tensor& b, bool transpose) {
    const char* op = "triangular_solve";
    check_square(op, l, "triangular factor");
    const Tensor lc = l.contiguous();
    Tensor x = rhs_copy(op, lc, b);
    solve(op, lc, transpose, x);
    return b.dim() == 1 ? x.squeeze(1) : x;
}

Tensor cholesky_solve_factored(const Tensor& l, const Tensor& b) {
    const char* op = "cholesky_solve_factored";
    check_square(op, l, "triangular factor");
    const Tensor lc = l.contiguous();
    Tensor x = rhs_copy(op, lc, b);
    solve(op, lc, false, x);  // L y = b
    solve(op, lc, true, x);   // L^T x = y
    return b.dim() == 1 ? x.squeeze(1) : x;
}

Tensor cholesky_solve(const Tensor& a, const Tensor& b, double lambda) {
    const char* op = "cholesky_solve";
    check_square(op, a, "matrix");
    check_lambda(op, lambda);
    check_rhs(op, a, b);  // before the O(N^3) factorization, not after
    return cholesky_solve_factored(cholesky(a, lambda), b);
}

}  // namespace gs::kernels
