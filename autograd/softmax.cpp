// Softmax and log-softmax: both backward passes need only the output y.
#include "autograd/softmax.h"

#include "autograd/function.h"
#include "kernels/softmax.h"

namespace gs::autograd {

Variable softmax(const Variable& x, std::int64_t dim) {
    Tensor y = kernels::softmax(x.value(), dim);
    return make_result(y, {x}, "softmax",
                       [y, dim](const Tensor& dy) { return std::vector{kernels::softmax_backward(y, dy, dim)}; });
}

Variable log_softmax(const Variable& x, std::int64_t dim) {
    Tensor y = kernels::log_softmax(x.value(), dim);
    return make_result(y, {x}, "log_softmax",
                       [y, dim](const Tensor& dy) { return std::vector{kernels::log_softmax_backward(y, dy, dim)}; });
}

}  // namespace gs::autograd
