// Per-example losses: forward with kernels/loss.h, backward recorded beside it.
#include "autograd/loss.h"

#include "autograd/function.h"
#include "kernels/loss.h"

namespace gs::autograd {

Variable cross_entropy(const Variable& logits, const Tensor& labels) {
    kernels::CrossEntropyResult r = kernels::softmax_cross_entropy(logits.value(), labels);
    // Backward needs the log-probabilities (softmax = exp of them) and the labels, not the logits.
    const Tensor log_probs = r.log_probs;
    return make_result(std::move(r.loss), {logits}, "cross_entropy", [log_probs, labels](const Tensor& dloss) {
        return std::vector{kernels::softmax_cross_entropy_backward(dloss, log_probs, labels)};
    });
}

Variable multiclass_hinge(const Variable& logits, const Tensor& labels, double margin) {
    const Tensor x = logits.value();
    return make_result(kernels::multiclass_hinge(x, labels, margin), {logits}, "multiclass_hinge",
                       [x, labels, margin](const Tensor& dloss) {
                           return std::vector{kernels::multiclass_hinge_backward(dloss, x, labels, margin)};
                       });
}

Variable binary_hinge(const Variable& logits, const Tensor& targets) {
    const Tensor x = logits.value();
    return make_result(kernels::binary_hinge(x, targets), {logits}, "binary_hinge", [x, targets](const Tensor& dloss) {
        return std::vector{kernels::binary_hinge_backward(dloss, x, targets)};
    });
}

Variable mse(const Variable& input, const Variable& target) {
    const Tensor x = input.value(), t = target.value();
    const bool need_dx = input.requires_grad(), need_dt = target.defined() && target.requires_grad();
    return make_result(kernels::mse(x, t), {input, target}, "mse", [=](const Tensor& dloss) {
        kernels::MseGrads g = kernels::mse_backward(dloss, x, t, need_dx, need_dt);
        return std::vector{g.dinput, g.dtarget};
    });
}

}  // namespace gs::autograd
