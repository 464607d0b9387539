// Entry points of the dropout kernels: validation, allocation and device dispatch.
#include <cmath>

#include "kernels/dispatch.h"
#include "kernels/dropout.h"

namespace gs::kernels {
namespace {

void check_p(const char* op, double p) {
    GS_CHECK(p >= 0 && p < 1, op, ": drop probability p must be in [0, 1), got ", p);
}

}  // namespace

DropoutResult dropout_forward(const Tensor& x_, double p, Generator& gen) {
    const char* op = "dropout_forward";
    GS_CHECK(x_.defined(), op, ": the input is undefined");
    GS_CHECK(is_floating(x_.dtype()), op, ": expected a floating dtype (f32 or f64), got ", x_.describe());
    check_p(op, p);
    if (p == 0) return {x_.clone(), Tensor()};
    const Tensor x = x_.contiguous();
    DropoutResult r{Tensor::empty_like(x), Tensor::empty(x.shape(), DType::u8, x.device())};
    const DropoutKeep keep{gen.seed, gen.stream, gen.offset, 1.0 - p};
    gen.offset += std::uint64_t(x.numel());
    if (use_cuda(op, {&x, &r.mask, &r.y})) {
        GS_CUDA_CALL(cuda::dropout_mask(keep, r.mask));
        GS_CUDA_CALL(cuda::dropout_apply(x, r.mask, p, r.y));
    } else {
        cpu::dropout_mask(keep, r.mask);
        cpu::dropout_apply(x, r.mask, p, r.y);
    }
    return r;
}

Tensor dropout_backward(const Tensor& dy_, const Tensor& mask, double p) {
    const char* op = "dropout_backward";
    GS_CHECK(dy_.defined(), op, ": dy is undefined");
    GS_CHECK(is_floating(dy_.dtype()), op, ": expected a floating dtype (f32 or f64), got ", dy_.describe());
    check_p(op, p);
    if (p == 0) {
        GS_CHECK(!mask.defined(), op, ": p == 0 has no mask, but a mask ", mask.describe(), " was given");
        return dy_.clone();
    }
    GS_CHECK(mask.defined() && mask.dtype() == DType::u8 && mask.shape() == dy_.shape(), op,
             ": expected a u8 mask of dy's shape ", dy_.describe(), ", got ",
             mask.defined() ? mask.describe() : "undefined");
    check_same_device(op, {&dy_, &mask});
    const Tensor dy = dy_.contiguous();
    const Tensor m = mask.contiguous();
    Tensor dx = Tensor::empty_like(dy);
    if (use_cuda(op, {&dy, &m, &dx})) GS_CUDA_CALL(cuda::dropout_apply(dy, m, p, dx));
    else cpu::dropout_apply(dy, m, p, dx);
    return dx;
}

}  // namespace gs::kernels
