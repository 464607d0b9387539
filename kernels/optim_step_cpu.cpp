// CPU loops of the optimizer steps: each element is updated by one functor call; no formulas here.
// The loops take restrict pointers and a copy of the functor, and SGD's momentum branches are fixed
// at compile time: otherwise the compiler must assume a store to w may change g, v or the step's
// fields, and the update stays scalar (8% of an mlp_1x512 training step at 406k parameters).
// This file is built with -fno-math-errno so Adam's sqrt vectorizes too (v >= 0, never an error).
#include "kernels/adam.h"
#include "kernels/sgd.h"
#include "tensor/dtype.h"

namespace gs::kernels::cpu {

namespace {
constexpr std::int64_t kGrain = 1 << 15;

template <bool kMomentum, bool kNesterov, class T>
void sgd_loop(T* __restrict w, const T* __restrict g, T* __restrict v, std::int64_t n, const SgdStep step) {
#pragma omp parallel for simd if (n >= kGrain) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) {
        T unused = 0;  // without momentum there is no velocity buffer, and the update ignores v
        step.update<kMomentum, kNesterov>(w[i], g[i], kMomentum ? v[i] : unused);
    }
}

template <class T>
void adam_loop(T* __restrict w, const T* __restrict g, T* __restrict m, T* __restrict v, std::int64_t n,
               const AdamStep step) {
#pragma omp parallel for simd if (n >= kGrain) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) step(w[i], g[i], m[i], v[i]);
}
}  // namespace

void sgd_step(Tensor& w, const Tensor& g, Tensor& v, const SgdStep& step) {
    const Tensor gc = g.contiguous();
    visit_float(w.dtype(), "sgd_step", [&](auto tag) {
        using T = decltype(tag);
        T* pv = v.defined() ? v.data<T>() : nullptr;
        if (step.momentum == 0) sgd_loop<false, false>(w.data<T>(), gc.data<T>(), pv, w.numel(), step);
        else if (step.nesterov) sgd_loop<true, true>(w.data<T>(), gc.data<T>(), pv, w.numel(), step);
        else sgd_loop<true, false>(w.data<T>(), gc.data<T>(), pv, w.numel(), step);
    });
}

void adam_step(Tensor& w, const Tensor& g, Tensor& m, Tensor& v, const AdamStep& step) {
    const Tensor gc = g.contiguous();
    visit_float(w.dtype(), "adam_step", [&](auto tag) {
        using T = decltype(tag);
        adam_loop<T>(w.data<T>(), gc.data<T>(), m.data<T>(), v.data<T>(), w.numel(), step);
    });
}

}  // namespace gs::kernels::cpu
