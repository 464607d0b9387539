// Entry points of the loss kernels: validation (shapes, dtypes, label and target values),
// allocation and device dispatch.
#include <cmath>

#include "kernels/dispatch.h"
#include "kernels/loss.h"

namespace gs::kernels {
namespace {

// logits (N, C) floating and labels (N) i64 with every label in [0, C).
void check_classification(const char* op, const Tensor& logits, const Tensor& labels) {
    GS_CHECK(logits.defined() && labels.defined(), op, ": logits and labels must be defined");
    GS_CHECK(logits.dim() == 2, op, ": expected logits of shape (N, C), got ", logits.describe());
    GS_CHECK(is_floating(logits.dtype()), op, ": expected floating logits (f32 or f64), got ", logits.describe());
    GS_CHECK(labels.dim() == 1 && labels.size(0) == logits.size(0), op, ": expected labels of shape [",
             logits.size(0), "] for logits ", logits.describe(), ", got ", labels.describe());
    GS_CHECK(labels.dtype() == DType::i64, op, ": labels must be i64, got ", labels.describe());
    check_same_device(op, {&logits, &labels});
    const std::int64_t C = logits.size(1);
    // Labels are checked on the host (a copy of N integers for CUDA labels) so that a bad one is
    // reported by example and value instead of becoming an out-of-bounds read on the device.
    const Tensor l = labels.to(Device::cpu()).contiguous();
    const std::int64_t* p = l.data<std::int64_t>();
    for (std::int64_t n = 0; n < l.numel(); ++n)
        GS_CHECK(p[n] >= 0 && p[n] < C, op, ": label ", p[n], " of example ", n, " is outside [0, C) with C = ", C);
}

// dloss: (N) with the logits' dtype (its device is checked by the dispatch).
void check_dloss(const char* op, const Tensor& dloss, std::int64_t N, DType dtype) {
    GS_CHECK(dloss.defined() && dloss.dim() == 1 && dloss.size(0) == N, op, ": expected dloss of shape [", N,
             "], got ", dloss.defined() ? dloss.describe() : "undefined");
    GS_CHECK(dloss.dtype() == dtype, op, ": dloss has dtype ", dtype_name(dloss.dtype()), ", expected ",
             dtype_name(dtype));
}

// Binary hinge: logits (N) or (N, 1), targets (N) or logits' shape, all ±1 in the logits' dtype.
void check_binary(const char* op, const Tensor& logits, const Tensor& targets) {
    GS_CHECK(logits.defined() && targets.defined(), op, ": logits and targets must be defined");
    GS_CHECK(logits.dim() == 1 || (logits.dim() == 2 && logits.size(1) == 1), op,
             ": expected logits of shape (N) or (N, 1), got ", logits.describe());
    GS_CHECK(is_floating(logits.dtype()), op, ": expected floating logits (f32 or f64), got ", logits.describe());
    const std::int64_t N = logits.size(0);
    GS_CHECK((targets.dim() == 1 && targets.size(0) == N) || targets.shape() == logits.shape(), op,
             ": expected targets of shape [", N, "] or the logits' shape, got ", targets.describe());
    GS_CHECK(targets.dtype() == logits.dtype(), op, ": targets must be ±1 in the logits' dtype ",
             dtype_name(logits.dtype()), ", got ", targets.describe());
    check_same_device(op, {&logits, &targets});
    const Tensor t = targets.to(Device::cpu()).contiguous();  // checked on the host, as labels are
    visit_float(t.dtype(), op, [&](auto tag) {
        using T = decltype(tag);
        const T* p = t.data<T>();
        for (std::int64_t n = 0; n < t.numel(); ++n)
            GS_CHECK(p[n] == T(1) || p[n] == T(-1), op, ": target ", double(p[n]), " of example ", n,
                     " is not -1 or +1");
    });
}

void check_mse(const char* op, const Tensor& input, const Tensor& target) {
    GS_CHECK(input.defined() && target.defined(), op, ": input and target must be defined");
    GS_CHECK(input.dim() >= 1, op, ": expected input of shape (N, ...), got a 0-d tensor");
    GS_CHECK(is_floating(input.dtype()), op, ": expected a floating input (f32 or f64), got ", input.describe());
    GS_CHECK(input.shape() == target.shape() && input.dtype() == target.dtype(), op, ": input ",
             input.describe(), " and target ", target.describe(), " must have the same shape and dtype");
    check_same_device(op, {&input, &target});
}

Tensor per_example(const Tensor& x) { return Tensor::empty({x.size(0)}, x.dtype(), x.device()); }

}  // namespace

CrossEntropyResult softmax_cross_entropy(const Tensor& logits, const Tensor& labels) {
    const char* op = "softmax_cross_entropy";
    check_classification(op, logits, labels);
    GS_CHECK(logits.size(1) >= 1 || logits.size(0) == 0, op, ": need at least one class, got ", logits.describe());
    const Tensor x = logits.contiguous();
    CrossEntropyResult r{per_example(x), Tensor::empty_like(x)};
    const Tensor l = labels.contiguous();
    if (use_cuda(op, {&x, &l})) GS_CUDA_CALL(cuda::softmax_cross_entropy(x, l, r.loss, r.log_probs));
    else cpu::softmax_cross_entropy(x, l, r.loss, r.log_probs);
    return r;
}

Tensor softmax_cross_entropy_backward(const Tensor& dloss, const Tensor& log_probs, const Tensor& labels) {
    const char* op = "softmax_cross_entropy_backward";
    check_classification(op, log_probs, labels);
    check_dloss(op, dloss, log_probs.size(0), log_probs.dtype());
    const Tensor lp = log_probs.contiguous();
    Tensor dlogits = Tensor::empty_like(lp);
    const Tensor dl = dloss.contiguous(), l = labels.contiguous();
    if (use_cuda(op, {&lp, &dl, &l})) GS_CUDA_CALL(cuda::softmax_cross_entropy_backward(dl, lp, l, dlogits));
    else cpu::softmax_cross_entropy_backward(dl, lp, l, dlogits);
    return dlogits;
}

Tensor multiclass_hinge(const Tensor& logits, const Tensor& labels, double margin) {
    const char* op = "multiclass_hinge";
    check_classification(op, logits, labels);
    GS_CHECK(std::isfinite(margin), op, ": margin must be finite, got ", margin);
    const Tensor x = logits.contiguous();
    Tensor loss = per_example(x);
    const Tensor l = labels.contiguous();
    if (use_cuda(op, {&x, &l})) GS_CUDA_CALL(cuda::multiclass_hinge(x, l, margin, loss));
    else cpu::multiclass_hinge(x, l, margin, loss);
    return loss;
}

Tensor multiclass_hinge_backward(const Tensor& dloss, const Tensor& logits, const Tensor& labels, double margin) {
    const char* op = "multiclass_hinge_backward";
    check_classification(op, logits, labels);
    GS_CHECK(std::isfinite(margin), op, ": margin must be finite, got ", margin);
    check_dloss(op, dloss, logits.size(0), logits.dtype());
    const Tensor x = logits.contiguous();
    Tensor dlogits = Tensor::empty_like(x);
    const Tensor dl = dloss.contiguous(), l = labels.contiguous();
    if (use_cuda(op, {&x, &dl, &l})) GS_CUDA_CALL(cuda::multiclass_hinge_backward(dl, x, l, margin, dlogits));
    else cpu::multiclass_hinge_backward(dl, x, l, margin, dlogits);
    return dlogits;
}

Tensor binary_hinge(const Tensor& logits, const Tensor& targets) {
    const char* op = "binary_hinge";
    check_binary(op, logits, targets);
    const Tensor x = logits.contiguous();
    Tensor loss = per_example(x);
    const Tensor t = targets.contiguous();
    if (use_cuda(op, {&x, &t})) GS_CUDA_CALL(cuda::binary_hinge(x, t, loss));
    else cpu::binary_hinge(x, t, loss);
    return loss;
}

Tensor binary_hinge_backward(const Tensor& dloss, const Tensor& logits, const Tensor& targets) {
    const char* op = "binary_hinge_backward";
    check_binary(op, logits, targets);
    check_dloss(op, dloss, logits.size(0), logits.dtype());
    const Tensor x = logits.contiguous();
    Tensor dlogits = Tensor::empty_like(x);
    const Tensor dl = dloss.contiguous(), t = targets.contiguous();
    if (use_cuda(op, {&x, &dl, &t})) GS_CUDA_CALL(cuda::binary_hinge_backward(dl, x, t, dlogits));
    else cpu::binary_hinge_backward(dl, x, t, dlogits);
    return dlogits;
}

Tensor mse(const Tensor& input, const Tensor& target) {
    const char* op = "mse";
    check_mse(op, input, target);
    const Tensor x = input.contiguous();
    Tensor loss = per_example(x);
    const Tensor t = target.contiguous();
    if (use_cuda(op, {&x, &t})) GS_CUDA_CALL(cuda::mse(x, t, loss));
    else cpu::mse(x, t, loss);
    return loss;
}

MseGrads mse_backward(const Tensor& dloss, const Tensor& input, const Tensor& target, bool need_dinput,
                      bool need_dtarget) {
    const char* op = "mse_backward";
    check_mse(op, input, target);
    check_dloss(op, dloss, input.size(0), input.dtype());
    MseGrads g;
    if (need_dinput) g.dinput = Tensor::empty(input.shape(), input.dtype(), input.device());
    if (need_dtarget) g.dtarget = Tensor::empty(target.shape(), target.dtype(), target.device());
    if (need_dinput || need_dtarget) {
        const Tensor dl = dloss.contiguous(), x = input.contiguous(), t = target.contiguous();
        if (use_cuda(op, {&x, &t, &dl})) GS_CUDA_CALL(cuda::mse_backward(dl, x, t, g.dinput, g.dtarget));
        else cpu::mse_backward(dl, x, t, g.dinput, g.dtarget);
    }
    return g;
}

}  // namespace gs::kernels
