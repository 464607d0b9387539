#pragma once
// Local response normalization across channels (AlexNet; PyTorch's LocalResponseNorm), fused:
// for x (N, C, ...) with the trailing dims flattened to L positions,
//     s[n, c, l] = k + (alpha / size) * sum_{j in window(c)} x[n, j, l]^2,   y = x * s^-beta,
// where window(c) = [c - size/2, c - size/2 + size - 1] clipped to [0, C) (PyTorch's window, for
// odd and even sizes). The input gradient is
//     dx[j] = dy[j] s[j]^-beta - (2 alpha beta / size) x[j] * sum_{c : j in window(c)} dy[c] y[c] / s[c],
// and {c : j in window(c)} = [j - (size - 1 - size/2), j + size/2]. The forward saves s (the
// "scale"); the backward recomputes s^-beta from it, so it needs x, s and dy only.
#include <cmath>
#include <cstdint>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace gs::kernels {

struct LrnParams {
    std::int64_t size = 5;
    double alpha = 1e-4, beta = 0.75, k = 1.0;
    // Channels before and after c in window(c).
    GS_HOST_DEVICE std::int64_t before() const { return size / 2; }
    GS_HOST_DEVICE std::int64_t after() const { return size - 1 - size / 2; }
    // The channels [lo, hi] of window(c) among C (the forward's sum).
    GS_HOST_DEVICE void window(std::int64_t c, std::int64_t C, std::int64_t& lo, std::int64_t& hi) const {
        clip(c - before(), c + after(), C, lo, hi);
    }
    // The channels c in [lo, hi] whose window holds j (the backward's sum).
    GS_HOST_DEVICE void covering(std::int64_t j, std::int64_t C, std::int64_t& lo, std::int64_t& hi) const {
        clip(j - after(), j + before(), C, lo, hi);
    }

private:
    GS_HOST_DEVICE static void clip(std::int64_t a, std::int64_t b, std::int64_t C, std::int64_t& lo, std::int64_t& hi) {
        lo = a < 0 ? 0 : a;
        hi = b > C - 1 ? C - 1 : b;
    }
};

// s^-beta. beta = 0.75 (AlexNet's) and 0.5 go through square roots: they vectorize where the
// general pow (a library call per element) does not, and are exact to a few ulps.
struct LrnInversePower {
    template <class T>
    GS_HOST_DEVICE T operator()(T s, T beta) const {
        if (beta == T(0.75)) {
            const T r = std::sqrt(s);
            return T(1) / (r * std::sqrt(r));
        }
        if (beta == T(0.5)) return T(1) / std::sqrt(s);
        return std::pow(s, -beta);
    }
};

// One term of the backward window sum: dy[c] y[c] / s[c] with y[c] = x[c] s[c]^-beta.
struct LrnBackwardTerm {
    template <class T>
    GS_HOST_DEVICE T operator()(T dy, T x, T s, T inv_pow) const { return dy * x * inv_pow / s; }
};

struct LrnResult {
    Tensor y;      // x's shape
    Tensor scale;  // s, x's shape: what the backward needs besides x
};

// x: (N, C, ...) with at least 3 dims, f32/f64. Checked: size >= 1, alpha >= 0 and k > 0, so that
// s >= k > 0 and s^-beta is finite for any beta.
LrnResult local_response_norm_forward(const Tensor& x, const LrnParams& p);
// dy, x, scale: x's shape (scale from the forward with the same parameters). Returns dx.
Tensor local_response_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& scale, const LrnParams& p);

namespace cpu {
// Contiguous (N, C, L) operands of one dtype, pre-allocated outputs, assigned.
void local_response_norm_forward(const Tensor& x, const LrnParams& p, Tensor& y, Tensor& scale);
void local_response_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& scale, const LrnParams& p,
                                  Tensor& dx);
}  // namespace cpu
namespace cuda {
// The same on CUDA tensors (local_response_norm_cuda.cu).
void local_response_norm_forward(const Tensor& x, const LrnParams& p, Tensor& y, Tensor& scale);
void local_response_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& scale, const LrnParams& p,
                                  Tensor& dx);
}  // namespace cuda

}  // namespace gs::kernels
