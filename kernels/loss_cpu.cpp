// Losses on the CPU: one thread per example (rows of (N, D) inputs), row sums in double in index
// order; the functors of loss.h (and softmax.h for the fused log-softmax) do the math.
#include <cmath>

#include "kernels/loss.h"
#include "kernels/softmax.h"
#include "tensor/strided.h"

namespace gs::kernels::cpu {
namespace {

// f(n) for every example n, in parallel when the rows hold enough work.
template <class F>
void for_each_example(std::int64_t N, std::int64_t D, F&& f) {
#pragma omp parallel for if (N > 1 && N * D >= kParallelGrain) schedule(static)
    for (std::int64_t n = 0; n < N; ++n) f(n);
}

// Elements per example of an (N, ...) tensor.
std::int64_t row_len(const Tensor& x) { return x.size(0) == 0 ? 0 : x.numel() / x.size(0); }

}  // namespace

void softmax_cross_entropy(const Tensor& logits, const Tensor& labels_, Tensor& loss_, Tensor& log_probs) {
    visit_float(logits.dtype(), "softmax_cross_entropy", [&](auto tag) {
        using T = decltype(tag);
        const std::int64_t N = logits.size(0), C = logits.size(1);
        const T* x = logits.data<T>();
        const std::int64_t* labels = labels_.data<std::int64_t>();
        T* lp = log_probs.data<T>();
        T* loss = loss_.data<T>();
        for_each_example(N, C, [&](std::int64_t n) {
            loss[n] = cross_entropy_row(x + n * C, labels[n], C, lp + n * C);
        });
    });
}

void softmax_cross_entropy_backward(const Tensor& dloss_, const Tensor& log_probs, const Tensor& labels_,
                                    Tensor& dlogits) {
    visit_float(log_probs.dtype(), "softmax_cross_entropy_backward", [&](auto tag) {
        using T = decltype(tag);
        const std::int64_t N = log_probs.size(0), C = log_probs.size(1);
        const T* lp = log_probs.data<T>();
        const T* dloss = dloss_.data<T>();
        const std::int64_t* labels = labels_.data<std::int64_t>();
        T* dx = dlogits.data<T>();
        for_each_example(N, C,
                         [&](std::int64_t n) { cross_entropy_backward_row(lp + n * C, labels[n], C, dloss[n], dx + n * C); });
    });
}

void multiclass_hinge(const Tensor& logits, const Tensor& labels_, double margin, Tensor& loss_) {
    visit_float(logits.dtype(), "multiclass_hinge", [&](auto tag) {
        using T = decltype(tag);
        const std::int64_t N = logits.size(0), C = logits.size(1);
        const T* x = logits.data<T>();
        const std::int64_t* labels = labels_.data<std::int64_t>();
        T* loss = loss_.data<T>();
        for_each_example(N, C, [&](std::int64_t n) { loss[n] = multiclass_hinge_row(x + n * C, labels[n], C, margin); });
    });
}

void multiclass_hinge_backward(const Tensor& dloss_, const Tensor& logits, const Tensor& labels_, double margin,
                               Tensor& dlogits) {
    visit_float(logits.dtype(), "multiclass_hinge_backward", [&](auto tag) {
        using T = decltype(tag);
        const std::int64_t N = logits.size(0), C = logits.size(1);
        const T* x = logits.data<T>();
        const T* dloss = dloss_.data<T>();
        const std::int64_t* labels = labels_.data<std::int64_t>();
        T* dx = dlogits.data<T>();
        for_each_example(N, C, [&](std::int64_t n) {
            multiclass_hinge_backward_row(x + n * C, labels[n], C, margin, dloss[n], dx + n * C);
        });
    });
}

void binary_hinge(const Tensor& logits, const Tensor& targets, Tensor& loss_) {
    visit_float(logits.dtype(), "binary_hinge", [&](auto tag) {
        using T = decltype(tag);
        const std::int64_t N = logits.size(0);
        const T* x = logits.data<T>();
        const T* t = targets.data<T>();
        T* loss = loss_.data<T>();
        const BinaryHingeViolation violation;
        const HingeClamp clamp;
        for_each_example(N, 1, [&](std::int64_t n) { loss[n] = clamp(violation(x[n], t[n])); });
    });
}

void binary_hinge_backward(const Tensor& dloss_, const Tensor& logits, const Tensor& targets, Tensor& dlogits) {
    visit_float(logits.dtype(), "binary_hinge_backward", [&](auto tag) {
        using T = decltype(tag);
        const std::int64_t N = logits.size(0);
        const T* x = logits.data<T>();
        const T* t = targets.data<T>();
        const T* dloss = dloss_.data<T>();
        T* dx = dlogits.data<T>();
        const BinaryHingeBackward grad;
        for_each_example(N, 1, [&](std::int64_t n) { dx[n] = grad(x[n], t[n], dloss[n]); });
    });
}

void mse(const Tensor& input, const Tensor& target, Tensor& loss_) {
    visit_float(input.dtype(), "mse", [&](auto tag) {
        using T = decltype(tag);
        const std::int64_t N = input.size(0), D = row_len(input);
        const T* x = input.data<T>();
        const T* t = target.data<T>();
        T* loss = loss_.data<T>();
        const SquaredError sq;
        for_each_example(N, D, [&](std::int64_t n) {
            double sum = 0;
            for (std::int64_t i = n * D; i < (n + 1) * D; ++i) sum += double(sq(x[i], t[i]));
            // D == 0 (e.g. shape (N, 0)) gives 0/0 = NaN, the mean of nothing, as torch does.
            loss[n] = T(sum / double(D));
        });
    });
}

void mse_backward(const Tensor& dloss_, const Tensor& input, const Tensor& target, Tensor& dinput,
                  Tensor& dtarget) {
    visit_float(input.dtype(), "mse_backward", [&](auto tag) {
        using T = decltype(tag);
        const std::int64_t N = input.size(0), D = row_len(input);
        const T* x = input.data<T>();
        const T* t = target.data<T>();
        const T* dloss = dloss_.data<T>();
        T* dx = dinput.defined() ? dinput.data<T>() : nullptr;
        T* dt = dtarget.defined() ? dtarget.data<T>() : nullptr;
        const SquaredErrorBackward grad;
        for_each_example(N, D, [&](std::int64_t n) {
            const T scale = T(2) * dloss[n] / T(D);
            for (std::int64_t i = n * D; i < (n + 1) * D; ++i) {
                if (dx) dx[i] = grad(x[i], t[i], scale);
                if (dt) dt[i] = grad(t[i], x[i], scale);
            }
        });
    });
}

}  // namespace gs::kernels::cpu
