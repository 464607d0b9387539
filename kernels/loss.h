#pragma once
// Losses that return PER-EXAMPLE values: loss (N), one entry per example, never pre-averaged. The
// batch mean is taken later (by autograd), so per-example gradients are the gradients of each
// example's own loss. Every backward takes dloss (N), the gradient of the per-example losses.
//
// Conventions:
// - softmax_cross_entropy: loss_n = -log softmax(x_n)[y_n], computed fused with log-softmax.
// - multiclass_hinge (Weston-Watkins, as torch.nn.MultiMarginLoss with p = 1, no weights):
//       loss_n = Σ_{j != y_n} max(0, margin - x_n[y_n] + x_n[j]) / C
//   i.e. the sum over the wrong classes, divided by the number of classes C (not by C - 1).
// - binary_hinge: targets are ±1 given in the logits' floating dtype (f32/f64); anything else,
//   including {0, 1} labels, is rejected. loss_n = max(0, 1 - t_n * x_n).
// - mse: loss_n = mean over the non-batch dims of (x_n - t_n)^2 (D = numel / N terms).
// Kinks (hinge at exactly 0) take the subgradient 0.
#include <cmath>

#include "kernels/host_device.h"
#include "kernels/softmax.h"
#include "tensor/tensor.h"

namespace gs::kernels {

// -log p of the label's class, from its log-probability.
struct NegLogLikelihood {
    template <class T>
    GS_HOST_DEVICE T operator()(T logp_label) const { return -logp_label; }
};

// dlogit_j = (softmax_j - [j == label]) * dloss, with softmax_j = exp(logp_j).
struct CrossEntropyBackward {
    template <class T>
    GS_HOST_DEVICE T operator()(T logp, bool is_label, T dloss) const {
        return (std::exp(logp) - (is_label ? T(1) : T(0))) * dloss;
    }
};

// One example's cross-entropy, shared by the CPU and CUDA loops: writes the C log-probabilities of
// logits xr to lp (kept for the backward) and returns -lp[y].
template <class T>
GS_HOST_DEVICE T cross_entropy_row(const T* xr, std::int64_t y, std::int64_t C, T* lp) {
    softmax_row(xr, lp, C, 1, true);
    return NegLogLikelihood{}(lp[y]);
}

// Its gradient: assigns dx[0..C) from the row's log-probabilities and dloss.
template <class T>
GS_HOST_DEVICE void cross_entropy_backward_row(const T* lp, std::int64_t y, std::int64_t C, T dloss, T* dx) {
    const CrossEntropyBackward f;
    for (std::int64_t j = 0; j < C; ++j) dx[j] = f(lp[j], j == y, dloss);
}

// The margin violation of wrong class j: margin - x_label + x_j. Positive means active.
struct MulticlassHingeViolation {
    template <class T>
    GS_HOST_DEVICE T operator()(T x_j, T x_label, T margin) const { return margin - x_label + x_j; }
};

// max(0, v), written so a NaN v stays NaN.
struct HingeClamp {
    template <class T>
    GS_HOST_DEVICE T operator()(T v) const { return v < T(0) ? T(0) : v; }
};

// Gradient of max(0, v) / C times dloss w.r.t. v: dloss / C where v > 0, else 0 (subgradient 0 at
// the kink). Wrong class j gets +this, the label's class gets minus the row's sum of it.
struct MulticlassHingeBackward {
    template <class T>
    GS_HOST_DEVICE T operator()(T v, T dloss_over_c) const { return v > T(0) ? dloss_over_c : T(0); }
};

// One example's multiclass hinge loss, shared by the CPU and CUDA loops: the mean over the C
// classes of the clamped violations of the wrong ones, summed in double. xr: the example's C logits.
template <class T>
GS_HOST_DEVICE T multiclass_hinge_row(const T* xr, std::int64_t y, std::int64_t C, double margin) {
    const MulticlassHingeViolation violation;
    const HingeClamp clamp;
    double sum = 0;
    for (std::int64_t j = 0; j < C; ++j)
        if (j != y) sum += double(clamp(violation(xr[j], xr[y], T(margin))));
    return T(sum / double(C));
}

// Its gradient: assigns out[0..C) for this example's dloss.
template <class T>
GS_HOST_DEVICE void multiclass_hinge_backward_row(const T* xr, std::int64_t y, std::int64_t C, double margin, T dloss,
                                                  T* out) {
    const MulticlassHingeViolation violation;
    const MulticlassHingeBackward grad;
    const T scale = dloss / T(C);
    // The label's logit appears with a minus sign in every wrong class's term.
    T label_grad = T(0);
    for (std::int64_t j = 0; j < C; ++j) {
        if (j == y) continue;
        out[j] = grad(violation(xr[j], xr[y], T(margin)), scale);
        label_grad -= out[j];
    }
    out[y] = label_grad;
}

// 1 - t*x, the binary hinge argument.
struct BinaryHingeViolation {
    template <class T>
    GS_HOST_DEVICE T operator()(T x, T t) const { return T(1) - t * x; }
};

// dx = -t * dloss where 1 - t*x > 0, else 0.
struct BinaryHingeBackward {
    template <class T>
    GS_HOST_DEVICE T operator()(T x, T t, T dloss) const { return T(1) - t * x > T(0) ? -t * dloss : T(0); }
};

// (x - t)^2, one term of the mean squared error.
struct SquaredError {
    template <class T>
    GS_HOST_DEVICE T operator()(T x, T t) const { return (x - t) * (x - t); }
};

// d/dx of (x - t)^2 / D times dloss: scale * (x - t) with scale = 2 * dloss / D. The target's
// gradient is the same functor with x and t swapped.
struct SquaredErrorBackward {
    template <class T>
    GS_HOST_DEVICE T operator()(T x, T t, T scale) const { return scale * (x - t); }
};

struct CrossEntropyResult {
    Tensor loss;       // (N) per-example -log p(label)
    Tensor log_probs;  // (N, C) log-softmax of the logits, saved for backward
};

struct MseGrads {
    Tensor dinput;   // input's shape; undefined unless requested
    Tensor dtarget;  // target's shape; undefined unless requested
};

// logits: (N, C) f32/f64 with C >= 1; labels: (N) i64 in [0, C) (else gs::Error naming the
// example, the label and C). Returns the per-example losses and the log-probabilities.
CrossEntropyResult softmax_cross_entropy(const Tensor& logits, const Tensor& labels);
// dloss: (N); log_probs: (N, C) from softmax_cross_entropy; labels: (N). Returns dlogits (N, C).
Tensor softmax_cross_entropy_backward(const Tensor& dloss, const Tensor& log_probs, const Tensor& labels);

// logits: (N, C) f32/f64; labels: (N) i64 in [0, C); margin finite. Returns loss (N).
Tensor multiclass_hinge(const Tensor& logits, const Tensor& labels, double margin = 1.0);
// Returns dlogits (N, C) for dloss (N).
Tensor multiclass_hinge_backward(const Tensor& dloss, const Tensor& logits, const Tensor& labels,
                                 double margin = 1.0);

// logits: (N) or (N, 1) f32/f64; targets: (N) or logits' shape, logits' dtype, every value -1 or
// +1. Returns loss (N).
Tensor binary_hinge(const Tensor& logits, const Tensor& targets);
// Returns dlogits (logits' shape) for dloss (N).
Tensor binary_hinge_backward(const Tensor& dloss, const Tensor& logits, const Tensor& targets);

// input, target: the same shape (N, ...) with at least one dim, same floating dtype. Returns loss (N).
Tensor mse(const Tensor& input, const Tensor& target);
// Returns the requested gradients for dloss (N).
MseGrads mse_backward(const Tensor& dloss, const Tensor& input, const Tensor& target, bool need_dinput,
                      bool need_dtarget);

namespace cpu {
// Contiguous, validated inputs; outputs pre-allocated and assigned. Hinge/mse inputs are viewed
// as (N, D). Undefined MSE outputs are skipped.
void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& log_probs);
void softmax_cross_entropy_backward(const Tensor& dloss, const Tensor& log_probs, const Tensor& labels,
                                    Tensor& dlogits);
void multiclass_hinge(const Tensor& logits, const Tensor& labels, double margin, Tensor& loss);
void multiclass_hinge_backward(const Tensor& dloss, const Tensor& logits, const Tensor& labels, double margin,
                               Tensor& dlogits);
void binary_hinge(const Tensor& logits, const Tensor& targets, Tensor& loss);
void binary_hinge_backward(const Tensor& dloss, const Tensor& logits, const Tensor& targets, Tensor& dlogits);
void mse(const Tensor& input, const Tensor& target, Tensor& loss);
void mse_backward(const Tensor& dloss, const Tensor& input, const Tensor& target, Tensor& dinput,
                  Tensor& dtarget);
}  // namespace cpu

namespace cuda {
// The same on CUDA tensors (loss_cuda.cu).
void softmax_cross_entropy(const Tensor& logits, const Tensor& labels, Tensor& loss, Tensor& log_probs);
void softmax_cross_entropy_backward(const Tensor& dloss, const Tensor& log_probs, const Tensor& labels,
                                    Tensor& dlogits);
void multiclass_hinge(const Tensor& logits, const Tensor& labels, double margin, Tensor& loss);
void multiclass_hinge_backward(const Tensor& dloss, const Tensor& logits, const Tensor& labels, double margin,
                               Tensor& dlogits);
void binary_hinge(const Tensor& logits, const Tensor& targets, Tensor& loss);
void binary_hinge_backward(const Tensor& dloss, const Tensor& logits, const Tensor& targets, Tensor& dlogits);
void mse(const Tensor& input, const Tensor& target, Tensor& loss);
void mse_backward(const Tensor& dloss, const Tensor& input, const Tensor& target, Tensor& dinput,
                  Tensor& dtarget);
}  // namespace cuda

}  // namespace gs::kernels
