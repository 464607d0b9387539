// Dropout on the CPU: flat OpenMP loops over the functors of dropout.h. Each element's draw is a
// function of its index only, so the mask is the same for any thread count.
#include "kernels/dropout.h"
#include "tensor/strided.h"

namespace gs::kernels::cpu {

void dropout_mask(const DropoutKeep& keep, Tensor& mask) {
    const std::int64_t n = mask.numel();
    std::uint8_t* m = mask.data<std::uint8_t>();
#pragma omp parallel for if (n >= 4096) schedule(static)
    for (std::int64_t i = 0; i < n; ++i) m[i] = keep(i);
}

void dropout_apply(const Tensor& x_, const Tensor& mask_, double p, Tensor& y_) {
    visit_float(x_.dtype(), "dropout", [&](auto tag) {
        using T = decltype(tag);
        const std::int64_t n = x_.numel();
        const T* x = x_.data<T>();
        const std::uint8_t* m = mask_.data<std::uint8_t>();
        T* y = y_.data<T>();
        const T scale = T(1.0 / (1.0 - p));
        const DropoutApply f;
#pragma omp parallel for if (n >= kParallelGrain) schedule(static)
        for (std::int64_t i = 0; i < n; ++i) y[i] = f(x[i], m[i], scale);
    });
}

}  // namespace gs::kernels::cpu
