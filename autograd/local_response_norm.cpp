// local_response_norm forward and backward.
#include "autograd/local_response_norm.h"

#include "autograd/function.h"

namespace gs::autograd {

Variable local_response_norm(const Variable& x, const kernels::LrnParams& p) {
    kernels::LrnResult r = kernels::local_response_norm_forward(x.value(), p);
    const Tensor xv = x.requires_grad() ? x.value() : Tensor();
    const Tensor scale = x.requires_grad() ? r.scale : Tensor();
    return make_result(std::move(r.y), {x}, "local_response_norm", [=](const Tensor& dy) {
        return std::vector{kernels::local_response_norm_backward(dy, xv, scale, p)};
    });
}

}  // namespace gs::autograd
