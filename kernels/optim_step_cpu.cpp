// CPU loops of the optimizer steps: each element is updated by one functor call; no formulas here.
#include "kernels/adam.h"
#include "kernels/sgd.h"
#include "tensor/dtype.h"

namespace gs::kernels::cpu {

namespace {
constexpr std::int64_t kGrain = 1 << 15;
}

void sgd_step(Tensor& w, const Tensor& g, Tensor& v, const SgdStep& step) {
    const Tensor gc = g.contiguous();
    visit_float(w.dtype(), "sgd_step", [&](auto tag) {
        using T = decltype(tag);
        T* pw = w.data<T>();
        const T* pg = gc.data<T>();
        T* pv = v.defined() ? v.data<T>() : nullptr;
        const std::int64_t n = w.numel();
        T unused = 0;
#pragma omp parallel for if (n >= kGrain) schedule(static) firstprivate(unused)
        for (std::int64_t i = 0; i < n; ++i) step(pw[i], pg[i], pv ? pv[i] : unused);
    });
}

void adam_step(Tensor& w, const Tensor& g, Tensor& m, Tensor& v, const AdamStep& step) {
    const Tensor gc = g.contiguous();
    visit_float(w.dtype(), "adam_step", [&](auto tag) {
        using T = decltype(tag);
        T* pw = w.data<T>();
        const T* pg = gc.data<T>();
        T* pm = m.data<T>();
        T* pv = v.data<T>();
        const std::int64_t n = w.numel();
#pragma omp parallel for if (n >= kGrain) schedule(static)
        for (std::int64_t i = 0; i < n; ++i) step(pw[i], pg[i], pm[i], pv[i]);
    });
}

}  // namespace gs::kernels::cpu
