// Entry points of the fused local response normalization: validation, allocation and dispatch.
#include "kernels/dispatch.h"
#include "kernels/local_response_norm.h"

namespace gs::kernels {
namespace {

void check_params(const char* op, const LrnParams& p) {
    GS_CHECK(p.size >= 1, op, ": size must be positive, got ", p.size);
    GS_CHECK(p.alpha >= 0 && p.k > 0, op, ": need alpha >= 0 and k > 0 (so that the scale k + alpha * mean(x^2) ",
             "is positive), got alpha ", p.alpha, " and k ", p.k);
    GS_CHECK(std::isfinite(p.alpha) && std::isfinite(p.beta) && std::isfinite(p.k), op,
             ": alpha, beta and k must be finite, got ", p.alpha, ", ", p.beta, ", ", p.k);
}

void check_input(const char* op, const char* name, const Tensor& t) {
    GS_CHECK(t.defined(), op, ": ", name, " is undefined");
    GS_CHECK(is_floating(t.dtype()), op, ": ", name, " must be f32 or f64, got ", t.describe());
    GS_CHECK(t.dim() >= 3, op, ": ", name, " must be (N, C, ...) with at least 3 dims, got ", t.describe());
}

}  // namespace

LrnResult local_response_norm_forward(const Tensor& x_, const LrnParams& p) {
    const char* op = "local_response_norm_forward";
    check_input(op, "x", x_);
    check_params(op, p);
    const Tensor x = x_.contiguous();
    LrnResult r{Tensor::empty_like(x), Tensor::empty_like(x)};
    if (use_cuda(op, {&x, &r.y, &r.scale})) GS_CUDA_CALL(cuda::local_response_norm_forward(x, p, r.y, r.scale));
    else cpu::local_response_norm_forward(x, p, r.y, r.scale);
    return r;
}

Tensor local_response_norm_backward(const Tensor& dy_, const Tensor& x_, const Tensor& scale_, const LrnParams& p) {
    const char* op = "local_response_norm_backward";
    check_input(op, "dy", dy_);
    check_input(op, "x", x_);
    check_input(op, "scale", scale_);
    check_params(op, p);
    GS_CHECK(dy_.shape() == x_.shape() && scale_.shape() == x_.shape(), op, ": dy ", dy_.describe(), ", x ",
             x_.describe(), " and scale ", scale_.describe(), " must have one shape");
    GS_CHECK(dy_.dtype() == x_.dtype() && scale_.dtype() == x_.dtype(), op, ": dy ", dy_.describe(), ", x ",
             x_.describe(), " and scale ", scale_.describe(), " must have one dtype");
    const Tensor dy = dy_.contiguous(), x = x_.contiguous(), scale = scale_.contiguous();
    Tensor dx = Tensor::empty_like(x);
    if (use_cuda(op, {&dy, &x, &scale, &dx})) GS_CUDA_CALL(cuda::local_response_norm_backward(dy, x, scale, p, dx));
    else cpu::local_response_norm_backward(dy, x, scale, p, dx);
    return dx;
}

}  // namespace gs::kernels
