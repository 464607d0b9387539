// conv2d forward and backward.
#include "autograd/conv2d.h"

#include "autograd/function.h"

namespace gs::autograd {

Variable conv2d(const Variable& x, const Variable& w, const Variable& b, const kernels::Conv2dGeometry& g) {
    Tensor y = kernels::conv2d_forward(x.value(), w.value(), b.defined() ? b.value() : Tensor(), g);
    const bool need_x = x.requires_grad(), need_w = w.requires_grad(), need_b = b.defined() && b.requires_grad();
    // dx needs w, dw needs x; neither is kept when its partner needs no gradient.
    const Tensor saved_w = need_x ? w.value() : Tensor(), saved_x = need_w ? x.value() : Tensor();
    const Shape x_shape = x.shape(), w_shape = w.shape();
    const bool has_b = b.defined();  // captured instead of b, which would keep the bias alive
    std::vector<Variable> inputs{x, w};
    if (b.defined()) inputs.push_back(b);
    return make_result(std::move(y), inputs, "conv2d", [need_x, need_w, need_b, has_b, saved_w, saved_x, x_shape, w_shape, g](const Tensor& dy) {
        std::vector<Tensor> grads(has_b ? 3 : 2);
        if (need_x) grads[0] = kernels::conv2d_backward_input(dy, saved_w, x_shape, g);
        if (need_w) grads[1] = kernels::conv2d_backward_weight(dy, saved_x, w_shape, g);
        if (need_b) grads[2] = kernels::conv2d_backward_bias(dy);
        return grads;
    });
}

}  // namespace gs::autograd
