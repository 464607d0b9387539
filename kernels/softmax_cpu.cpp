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
        for_each_row(rows, [&](std::int64_t b, std::int64_t st) {
            const MaxNan max_nan;
            T m = x[b];
            for (std::int64_t j = 1; j < D; ++j) m = max_nan(m, x[b + j * st]);
            const SoftmaxShiftedExp shifted_exp;
            double sum = 0;
            if (log) {
                for (std::int64_t j = 0; j < D; ++j) sum += double(shifted_exp(x[b + j * st], m));
                const LogSoftmaxForward f;
                const T log_sum = T(std::log(sum));
                for (std::int64_t j = 0; j < D; ++j) y[b + j * st] = f(x[b + j * st], m, log_sum);
            } else {
                // Store the exponents first so each is computed once, then scale them in place.
                for (std::int64_t j = 0; j < D; ++j) {
                    const T e = shifted_exp(x[b + j * st], m);
                    y[b + j * st] = e;
                    sum += double(e);
                }
                const SoftmaxNormalize normalize;
                const T inv = T(1.0 / sum);
                for (std::int64_t j = 0; j < D; ++j) y[b + j * st] = normalize(y[b + j * st], inv);
            }
        });
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
        for_each_row(rows, [&](std::int64_t b, std::int64_t st) {
            double acc = 0;
            if (log) {
                for (std::int64_t j = 0; j < D; ++j) acc += double(dy[b + j * st]);
                const LogSoftmaxBackward f;
                for (std::int64_t j = 0; j < D; ++j) dx[b + j * st] = f(y[b + j * st], dy[b + j * st], T(acc));
            } else {
                for (std::int64_t j = 0; j < D; ++j) acc += double(dy[b + j * st]) * double(y[b + j * st]);
                const SoftmaxBackward f;
                for (std::int64_t j = 0; j < D; ++j) dx[b + j * st] = f(y[b + j * st], dy[b + j * st], T(acc));
            }
        });
    });
}

}  // namespace gs::kernels::cpu
