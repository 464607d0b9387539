#pragma once
// Differentiable losses. Each returns PER-EXAMPLE losses of shape (N), not their mean: reduce
// afterwards (mean or sum) so that per-example gradients are those of each example's own loss.
// Conventions (class-averaged multiclass hinge, ±1 binary targets, per-example mean for MSE) are
// documented in kernels/loss.h. Labels and hinge targets are data, not Variables.
#include "autograd/variable.h"

namespace gs::autograd {

// logits (N, C); labels (N) i64 in [0, C). loss_n = -log softmax(logits_n)[labels_n].
Variable cross_entropy(const Variable& logits, const Tensor& labels);
// logits (N, C); labels (N) i64. loss_n = Σ_{j != y} max(0, margin - x_y + x_j) / C.
Variable multiclass_hinge(const Variable& logits, const Tensor& labels, double margin = 1.0);
// logits (N) or (N, 1); targets ±1 in the logits' dtype. loss_n = max(0, 1 - t_n x_n).
Variable binary_hinge(const Variable& logits, const Tensor& targets);
// input, target (N, ...) of one shape; both may require grad. loss_n = mean_i (x_ni - t_ni)^2.
Variable mse(const Variable& input, const Variable& target);

}  // namespace gs::autograd
