// Softmax on the CPU: one thread per row (a row = the elements along `dim` at a fixed outer and
// inner index), sums in double, in index order; the functors of softmax.h do the math.
#include <cmath>

#include "kernels/softmax.h"
#include "tensor/strided.h"

namespace gs::kernels::cpu {
namespace {

template <class F>
void for_each_row(const SoftmaxRows& rows, F&& f) {
    const std::int64_t n = rows.count();
#pragma omp parallel for if (n * rows.D >= kParallelGrain) schedule(static)
    for (std::int64_t r = 0; r < n; ++r) f(rows.base(r), rows.inner);
}

}  // namespace

void softmax(const Tensor& x_, std::int64_t dim, bool log, Tensor& y_) {
    visit_float(x_.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
        using T = decltype(tag);
        if (x_.numel() == 0) return;  // D may be 0: there is no first element to start the max from
        const SoftmaxRows rows(x_, dim);
        const T* x = x_.data<T>();
        T* y = y_.data<T>();
        const std::int64_t D = rows.D;
        for_each_row(rows, [&](std::int64_t b, std::int64_t st) { softmax_row(x + b, y + b, D, st, log); });
    });
}

void softmax_backward(const Tensor& y_, const Tensor& dy_, std::int64_t dim, bool log, Tensor& dx_) {
    visit_float(y_.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&](auto tag) {
        using T = decltype(tag);
        if (y_.numel() == 0) return;
        const SoftmaxRows rows(y_, dim);
        const T* y = y_.data<T>();
        const T* dy = dy_.data<T>();
        T* dx = dx_.data<T>();
        const std::int64_t D = rows.D;
        for_each_row(rows, [&](std::int64_t b, std::int64_t st) { softmax_backward_row(y + b, dy + b, dx + b, D, st, log); });
    });
}

}  // namespace gs::kernels::cpu
