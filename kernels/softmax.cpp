// Entry points of the softmax kernels: validation, allocation and device dispatch.
#include "kernels/dispatch.h"
#include "kernels/softmax.h"

namespace gs::kernels {
namespace {

std::int64_t check_forward(const char* op, const Tensor& x, std::int64_t dim) {
    GS_CHECK(x.defined(), op, ": the input is undefined");
    GS_CHECK(x.dim() >= 1, op, ": expected at least one dim, got a 0-d tensor");
    GS_CHECK(is_floating(x.dtype()), op, ": expected a floating dtype (f32 or f64), got ", x.describe());
    return wrap_dim(dim, x.dim(), op);
}

Tensor forward(const char* op, const Tensor& x_, std::int64_t dim, bool log) {
    const std::int64_t d = check_forward(op, x_, dim);
    const Tensor x = x_.contiguous();
    Tensor y = Tensor::empty_like(x);
    if (use_cuda(op, {&x, &y})) GS_CUDA_CALL(cuda::softmax(x, d, log, y));
    else cpu::softmax(x, d, log, y);
    return y;
}

Tensor backward(const char* op, const Tensor& y_, const Tensor& dy_, std::int64_t dim, bool log) {
    const std::int64_t d = check_forward(op, y_, dim);
    GS_CHECK(dy_.defined() && dy_.shape() == y_.shape() && dy_.dtype() == y_.dtype(), op, ": dy must match y ",
             y_.describe(), ", got ", dy_.defined() ? dy_.describe() : "undefined");
    check_same_device(op, {&y_, &dy_});
    const Tensor y = y_.contiguous();
    const Tensor dy = dy_.contiguous();
    Tensor dx = Tensor::empty_like(y);
    if (use_cuda(op, {&y, &dy, &dx})) GS_CUDA_CALL(cuda::softmax_backward(y, dy, d, log, dx));
    else cpu::softmax_backward(y, dy, d, log, dx);
    return dx;
}

}  // namespace

Tensor softmax(const Tensor& x, std::int64_t dim) { return forward("softmax", x, dim, false); }
Tensor log_softmax(const Tensor& x, std::int64_t dim) { return forward("log_softmax", x, dim, true); }
Tensor softmax_backward(const Tensor& y, const Tensor& dy, std::int64_t dim) {
    return backward("softmax_backward", y, dy, dim, false);
}
Tensor log_softmax_backward(const Tensor& y, const Tensor& dy, std::int64_t dim) {
    return backward("log_softmax_backward", y, dy, dim, true);
}

}  // namespace gs::kernels
