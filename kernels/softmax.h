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

// One row of softmax (or log-softmax) forward, D >= 1 elements at stride st from x into y: the
// traversal every device runs (max, then the exponent sum in double, in index order), so CPU and
// CUDA results agree to the last bit of the math functions.
template <class T>
GS_HOST_DEVICE void softmax_row(const T* x, T* y, std::int64_t D, std::int64_t st, bool log) {
    const MaxNan max_nan;
    T m = x[0];
    for (std::int64_t j = 1; j < D; ++j) m = max_nan(m, x[j * st]);
    const SoftmaxShiftedExp shifted_exp;
    double sum = 0;
    if (log) {
        for (std::int64_t j = 0; j < D; ++j) sum += double(shifted_exp(x[j * st], m));
        const LogSoftmaxForward f;
        const T log_sum = T(std::log(sum));
        for (std::int64_t j = 0; j < D; ++j) y[j * st] = f(x[j * st], m, log_sum);
        return;
    }
    // Store the exponents first so each is computed once, then scale them in place.
    for (std::int64_t j = 0; j < D; ++j) {
        const T e = shifted_exp(x[j * st], m);
        y[j * st] = e;
        sum += double(e);
    }
    const SoftmaxNormalize normalize;
    const T inv = T(1.0 / sum);
    for (std::int64_t j = 0; j < D; ++j) y[j * st] = normalize(y[j * st], inv);
}

// One row of the backward, from the forward's output y and its gradient dy; the row sum in double.
template <class T>
GS_HOST_DEVICE void softmax_backward_row(const T* y, const T* dy, T* dx, std::int64_t D, std::int64_t st, bool log) {
    double acc = 0;
    if (log) {
        for (std::int64_t j = 0; j < D; ++j) acc += double(dy[j * st]);
        const LogSoftmaxBackward f;
        for (std::int64_t j = 0; j < D; ++j) dx[j * st] = f(y[j * st], dy[j * st], T(acc));
        return;
    }
    for (std::int64_t j = 0; j < D; ++j) acc += double(dy[j * st]) * double(y[j * st]);
    const SoftmaxBackward f;
    for (std::int64_t j = 0; j < D; ++j) dx[j * st] = f(y[j * st], dy[j * st], T(acc));
}

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
