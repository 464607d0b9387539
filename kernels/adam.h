#pragma once
// One Adam update, PyTorch's rule (no amsgrad) with bias correction at step t (1-based):
//     g += weight_decay * w;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//     w -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)
// The optimizer step writes w, m, v in place (the documented exception to "kernels assign").
#include <cmath>
#include <cstdint>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace gs::kernels {

struct AdamStep {
    double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0;
    double bias_correction1 = 1, bias_correction2 = 1;  // 1 - beta^t, set by for_step()

    // This functor with the bias corrections of step t >= 1.
    AdamStep for_step(std::int64_t t) const {
        AdamStep s = *this;
        s.bias_correction1 = 1 - std::pow(beta1, double(t));
        s.bias_correction2 = 1 - std::pow(beta2, double(t));
        return s;
    }

    template <class T>
    GS_HOST_DEVICE void operator()(T& w, T g, T& m, T& v) const {
        using std::sqrt;
        g = g + T(weight_decay) * w;
        m = T(beta1) * m + T(1 - beta1) * g;
        v = T(beta2) * v + T(1 - beta2) * g * g;
        const T denom = sqrt(v) / T(sqrt(bias_correction2)) + T(eps);
        w = w - T(lr / bias_correction1) * m / denom;
    }
};

// Updates w, m, v in place; all four of one shape and float dtype, w, m, v contiguous.
void adam_step_(Tensor& w, const Tensor& g, Tensor& m, Tensor& v, const AdamStep& step);

namespace cpu {
void adam_step(Tensor& w, const Tensor& g, Tensor& m, Tensor& v, const AdamStep& step);
}
namespace cuda {
void adam_step(Tensor& w, const Tensor& g, Tensor& m, Tensor& v, const AdamStep& step);  // optim_step_cuda.cu
}

}  // namespace gs::kernels
