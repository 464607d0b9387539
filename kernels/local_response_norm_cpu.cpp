// Local response normalization on the CPU. Rows are (n, c) planes of L positions; every loop runs
// along l, so it vectorizes, and each output row reads the `size` input rows of its window, which
// stay in cache between neighbouring rows. The power s^-beta is taken in a loop specialized for
// beta (LrnInversePower's square-root cases), which the compiler vectorizes (this file is built
// with -fno-math-errno, so std::sqrt is the vector instruction).
#include <algorithm>

#include "kernels/local_response_norm.h"
#include "kernels/scratch.h"
#include "tensor/strided.h"

namespace gs::kernels::cpu {
namespace {

using i64 = std::int64_t;

// out[l] = s[l]^-beta * (a ? a[l] : 1) for l < L, in one loop per case of beta.
template <class T>
void times_inverse_power(const T* s, const T* a, T beta, T* out, i64 L) {
    const LrnInversePower f;
    auto run = [&](auto pow_of) {
        if (a)
            for (i64 l = 0; l < L; ++l) out[l] = a[l] * pow_of(s[l]);
        else
            for (i64 l = 0; l < L; ++l) out[l] = pow_of(s[l]);
    };
    if (beta == T(0.75)) run([&](T v) { return f(v, T(0.75)); });
    else if (beta == T(0.5)) run([&](T v) { return f(v, T(0.5)); });
    else run([&](T v) { return f(v, beta); });
}

bool parallel(i64 n) { return n >= kParallelGrain; }

}  // namespace

void local_response_norm_forward(const Tensor& x_, const LrnParams& p, Tensor& y_, Tensor& scale_) {
    visit_float(x_.dtype(), "local_response_norm", [&](auto tag) {
        using T = decltype(tag);
        const i64 N = x_.size(0), C = x_.size(1), L = N * C == 0 ? 0 : x_.numel() / (N * C);
        const T* x = x_.data<T>();
        T* y = y_.data<T>();
        T* s = scale_.data<T>();
        const T a = T(p.alpha / double(p.size)), k = T(p.k), beta = T(p.beta);
#pragma omp parallel for if (parallel(x_.numel())) schedule(static)
        for (i64 row = 0; row < N * C; ++row) {
            const i64 n = row / C, c = row % C;
            i64 j0, j1;
            p.window(c, C, j0, j1);
            T* sr = s + row * L;
            std::fill(sr, sr + L, T(0));
            for (i64 j = j0; j <= j1; ++j) {
                const T* xj = x + (n * C + j) * L;
                for (i64 l = 0; l < L; ++l) sr[l] += xj[l] * xj[l];
            }
            for (i64 l = 0; l < L; ++l) sr[l] = k + a * sr[l];
            times_inverse_power(sr, x + row * L, beta, y + row * L, L);
        }
    });
}

void local_response_norm_backward(const Tensor& dy_, const Tensor& x_, const Tensor& scale_, const LrnParams& p,
                                  Tensor& dx_) {
    visit_float(x_.dtype(), "local_response_norm", [&](auto tag) {
        using T = decltype(tag);
        const i64 N = x_.size(0), C = x_.size(1), L = N * C == 0 ? 0 : x_.numel() / (N * C);
        const T* dy = dy_.data<T>();
        const T* x = x_.data<T>();
        const T* s = scale_.data<T>();
        T* dx = dx_.data<T>();
        const T beta = T(p.beta), coef = T(2.0 * p.alpha * p.beta / double(p.size));
        // Per example: w[c] = s[c]^-beta and t[c] = dy[c] y[c] / s[c] for every channel (the
        // window sums share them), then dx row by row. Parallel over examples; each thread's two
        // planes live in its scratch, reused from call to call.
#pragma omp parallel if (parallel(x_.numel()) && N > 1)
        {
            T* t = thread_scratch(ScratchSlot::columns).get<T>(std::size_t(C * L));
            T* w = thread_scratch(ScratchSlot::partials).get<T>(std::size_t(C * L));
            const LrnBackwardTerm term;
#pragma omp for schedule(static)
            for (i64 n = 0; n < N; ++n) {
                const T* dyn = dy + n * C * L;
                const T* xn = x + n * C * L;
                const T* sn = s + n * C * L;
                T* dxn = dx + n * C * L;
                times_inverse_power(sn, static_cast<const T*>(nullptr), beta, w, C * L);
                for (i64 i = 0; i < C * L; ++i) t[i] = term(dyn[i], xn[i], sn[i], w[i]);
                for (i64 j = 0; j < C; ++j) {
                    i64 c0, c1;  // the rows whose window holds j
                    p.covering(j, C, c0, c1);
                    T* dxj = dxn + j * L;
                    std::fill(dxj, dxj + L, T(0));
                    for (i64 c = c0; c <= c1; ++c)
                        for (i64 l = 0; l < L; ++l) dxj[l] += t[c * L + l];
                    const i64 o = j * L;
                    for (i64 l = 0; l < L; ++l) dxj[l] = dyn[o + l] * w[o + l] - coef * xn[o + l] * dxj[l];
                }
            }
        }
    });
}

}  // namespace gs::kernels::cpu
