#pragma once
// Squared Euclidean distances between the rows of two matrices and the Gaussian RBF kernel matrix
// built from them (papers.md §1.10: K_ij = exp(-gamma ||x_i - y_j||^2), gamma = 0.02 for MNIST
// pixels in [0, 1]). CPU or CUDA, f32/f64; the O(N M D) part is one GEMM.
#include <cmath>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace gs::kernels {

// ||x - y||^2 = ||x||^2 + ||y||^2 - 2 x.y, clamped at 0: rounding in the expansion can make the
// distance of (nearly) equal rows slightly negative. Written as `d < 0 ? 0 : d` so NaN stays NaN.
struct SqDistFromGram {
    template <class T>
    GS_HOST_DEVICE T operator()(T x_sq, T y_sq, T dot) const {
        const T d = x_sq + y_sq - T(2) * dot;
        return d < T(0) ? T(0) : d;
    }
};

// The Gaussian RBF kernel exp(-gamma d) of a squared distance d (gamma = 1 / (2 sigma^2)).
struct RbfFromSqDist {
    double gamma;
    template <class T>
    GS_HOST_DEVICE T operator()(T d) const { return T(std::exp(-gamma * double(d))); }
};

// x: (N, D), y: (M, D), f32/f64, same dtype and device; any strides. Returns (N, M) contiguous with
// out_ij = ||x_i - y_j||^2 >= 0. When y is the same view as x (same storage, offset, shape and
// strides) the result is exactly symmetric with an exactly zero diagonal (the expansion alone
// would leave rounding noise there).
Tensor pairwise_sq_dist(const Tensor& x, const Tensor& y);

// As pairwise_sq_dist, then K_ij = exp(-gamma d_ij); gamma must be finite and >= 0. With y the
// same view as x, K is exactly symmetric with an exactly 1 diagonal.
Tensor rbf_kernel(const Tensor& x, const Tensor& y, double gamma);

namespace cpu {
// x (N, D), y (M, D) contiguous; out (N, M) contiguous, assigned. `same`: y is x (see above).
// gamma < 0 means "distances only"; otherwise the kernel values.
void rbf_kernel(const Tensor& x, const Tensor& y, bool same, double gamma, Tensor& out);
}  // namespace cpu

namespace cuda {
// The same contract on one CUDA device (rbf_cuda.cu: cuBLAS for x y^T, one kernel for the rest).
void rbf_kernel(const Tensor& x, const Tensor& y, bool same, double gamma, Tensor& out);
}  // namespace cuda

}  // namespace gs::kernels
