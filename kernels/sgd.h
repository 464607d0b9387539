#pragma once
// One SGD update, PyTorch's rule (dampening 0):
//     g += weight_decay * w;  v = momentum * v + g;  g = nesterov ? g + momentum * v : v;  w -= lr * g
// With momentum 0 there is no velocity (v is neither read nor written) and w -= lr * g.
// This is the optimizer step: the one documented place where a kernel writes its operands (w and
// v) in place instead of assigning a fresh output.
#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace gs::kernels {

struct SgdStep {
    double lr = 0.01, momentum = 0, weight_decay = 0;
    bool nesterov = false;

    // The update with the momentum branches fixed at compile time, so a loop over it has no
    // control flow and vectorizes; kMomentum must equal (momentum != 0), kNesterov nesterov.
    template <bool kMomentum, bool kNesterov, class T>
    GS_HOST_DEVICE void update(T& w, T g, T& v) const {
        g = g + T(weight_decay) * w;
        if constexpr (kMomentum) {
            v = T(momentum) * v + g;
            g = kNesterov ? g + T(momentum) * v : v;
        }
        w = w - T(lr) * g;
    }

    template <class T>
    GS_HOST_DEVICE void operator()(T& w, T g, T& v) const {
        if (momentum == 0) update<false, false>(w, g, v);
        else if (nesterov) update<true, true>(w, g, v);
        else update<true, false>(w, g, v);
    }
};

// Updates w (and v, when momentum != 0) in place from the gradient g. w, g, v: one shape, one
// float dtype, w and v contiguous; v may be undefined when momentum == 0.
void sgd_step_(Tensor& w, const Tensor& g, Tensor& v, const SgdStep& step);

namespace cpu {
void sgd_step(Tensor& w, const Tensor& g, Tensor& v, const SgdStep& step);
}
namespace cuda {
void sgd_step(Tensor& w, const Tensor& g, Tensor& v, const SgdStep& step);  // optim_step_cuda.cu
}

}  // namespace gs::kernels
