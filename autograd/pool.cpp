// max_pool2d and avg_pool2d forward and backward.
#include "autograd/pool.h"

#include "autograd/function.h"

namespace gs::autograd {

Variable max_pool2d(const Variable& x, const kernels::Pool2dGeometry& g) {
    kernels::MaxPool2dResult r = kernels::max_pool2d_forward(x.value(), g);
    // Backward needs only where each window's maximum was, not x itself.
    const Tensor indices = x.requires_grad() ? r.indices : Tensor();
    const Shape x_shape = x.shape();
    return make_result(std::move(r.y), {x}, "max_pool2d", [=](const Tensor& dy) {
        return std::vector{kernels::max_pool2d_backward(dy, indices, x_shape, g)};
    });
}

Variable avg_pool2d(const Variable& x, const kernels::Pool2dGeometry& g, bool count_include_pad) {
    Tensor y = kernels::avg_pool2d_forward(x.value(), g, count_include_pad);
    const Shape x_shape = x.shape();
    return make_result(std::move(y), {x}, "avg_pool2d", [=](const Tensor& dy) {
        return std::vector{kernels::avg_pool2d_backward(dy, x_shape, g, count_include_pad)};
    });
}

}  // namespace gs::autograd
