#pragma once
// Softmax and log-softmax along one dim, numerically stable (the row maximum is subtracted before
// exp), with their backward passes. A row is the set of elements that differ only in `dim`; a NaN
// anywhere in a row makes the whole row NaN (the max propagates it).
//
//   softmax:      y_j = exp(x_j - m) / Σ_k exp(x_k - m)         m = max_k x_k
//   log_softmax:  y_j = x_j - m - log Σ_k exp(x_k - m)
//   backward:     dx_j = y_j * (dy_j - Σ_k dy_k y_k)            (softmax, from its output y)
//                 dx_j = dy_j - exp(y_j) * Σ_k dy_k             (log_softmax, from its output y)
#include <cmath>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace gs::kernels {

// The running maximum of a row, NaN-propagating: once acc or x is NaN the result stays NaN.
struct MaxNan {
    template <class T>
    GS_HOST_DEVICE T operator()(T acc, T x) const { return (x > acc || x != x) ? x : acc; }
};

// exp(x - m): the shifted exponent whose row sum normalizes softmax.
struct SoftmaxShiftedExp {
    template <class T>
    GS_HOST_DEVICE T operator()(T x, T m) const { return std::exp(x - m); }
};

// y = e * inv_sum with e = exp(x - m) and inv_sum = 1 / Σ e over the row.
struct SoftmaxNormalize {
    template <class T>
    GS_HOST_DEVICE T operator()(T e, T inv_sum) const { return e * inv_sum; }
};

// y = x - m - log(sum): log-softmax from the row max and the sum of shifted exponents.
struct LogSoftmaxForward {
    template <class T>
    GS_HOST_DEVICE T operator()(T x, T m, T log_sum) const { return x - m - log_sum; }
};

// dx = y * (dy - dot) with dot = Σ dy*y over the row.
struct SoftmaxBackward {
    template <class T>
    GS_HOST_DEVICE T operator()(T y, T dy, T dot) const { return y * (dy - dot); }
};

// dx = dy - exp(y) * sum_dy with sum_dy = Σ dy over the row (exp(y) is the softmax).
struct LogSoftmaxBackward {
    template <class T>
    GS_HOST_DEVICE T operator()(T y, T dy, T sum_dy) const { return dy - std::exp(y) * sum_dy; }
};

// x: any shape with x.size(dim) >= 1 (unless x is empty), f32/f64; dim may be negative.
// Returns softmax(x) along dim, x's shape (contiguous).
Tensor softmax(const Tensor& x, std::int64_t dim);
// As softmax, returns log(softmax(x)) computed without forming softmax (no log of 0 underflow).
Tensor log_softmax(const Tensor& x, std::int64_t dim);
// y: the output of softmax(x, dim); dy: the gradient of y, same shape and dtype. Returns dx.
Tensor softmax_backward(const Tensor& y, const Tensor& dy, std::int64_t dim);
// y: the output of log_softmax(x, dim); dy: the gradient of y. Returns dx.
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, std::int64_t dim);

// x viewed as (outer, D, inner), contiguous, softmax along D: row r (of outer * inner) holds the
// elements (o, j, i) at (o*D + j)*inner + i, so it starts at base(r) with stride inner. Shared by the
// CPU and CUDA loops.
struct SoftmaxRows {
    std::int64_t outer = 1, D = 1, inner = 1;
    SoftmaxRows(const Tensor& x, std::int64_t dim) {
        for (std::int64_t k = 0; k < dim; ++k) outer *= x.size(k);
        D = x.size(dim);
        for (std::int64_t k = dim + 1; k < x.dim(); ++k) inner *= x.size(k);
    }
    std::int64_t count() const { return outer * inner; }
    GS_HOST_DEVICE static std::int64_t base(std::int64_t r, std::int64_t D, std::int64_t inner) {
        return (r / inner) * D * inner + r % inner;
    }
    std::int64_t base(std::int64_t r) const { return base(r, D, inner); }
};

namespace cpu {
// Contiguous inputs; outputs pre-allocated (contiguous, same shape) and assigned. `dim` is wrapped.
void softmax(const Tensor& x, std::int64_t dim, bool log, Tensor& y);
void softmax_backward(const Tensor& y, const Tensor& dy, std::int64_t dim, bool log, Tensor& dx);
}  // namespace cpu

namespace cuda {
// The same on CUDA tensors (softmax_cuda.cu).
void softmax(const Tensor& x, std::int64_t dim, bool log, Tensor& y);
void softmax_backward(const Tensor& y, const Tensor& dy, std::int64_t dim, bool log, Tensor& dx);
}  // namespace cuda

}  // namespace gs::kernels
