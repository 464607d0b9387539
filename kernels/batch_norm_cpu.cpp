// Batch norm on the CPU: per-channel sums in double over fixed blocks (so the result does not
// depend on the thread count), then the functors of batch_norm.h applied elementwise.
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "kernels/batch_norm.h"
#include "tensor/strided.h"

namespace gs::kernels::cpu {
namespace {

// x viewed as (N, C, S), contiguous.
struct Dims {
    std::int64_t N, C, S;
    explicit Dims(const Tensor& x) : N(x.size(0)), C(x.size(1)), S(1) {
        for (std::int64_t k = 2; k < x.dim(); ++k) S *= x.size(k);
    }
    std::int64_t M() const { return N * S; }
};

// out[k][c] = Σ over (n, s) of f(i, c)[k], i = (n*C + c)*S + s the flat index of x.
// The (n, s) range of a channel is cut into blocks whose size depends only on S, each block is
// summed by one thread in index order, and the block sums are added in block order: the same
// result for any thread count, with parallelism even when C is small. Within a block, element s
// goes to lane s % kLanes and the lanes are added in lane order at the end: independent
// accumulators let the loop vectorize instead of waiting on one chain of dependent adds.
template <std::size_t K, class F>
std::array<std::vector<double>, K> channel_sums(const Dims& d, F&& f) {
    constexpr std::int64_t kBlock = 8192;  // elements of one channel per work item
    constexpr std::int64_t kLanes = 8;
    const std::int64_t rows = std::max<std::int64_t>(1, kBlock / std::max<std::int64_t>(d.S, 1));
    const std::int64_t blocks = (d.N + rows - 1) / rows;
    std::vector<std::array<double, K>> partial(std::size_t(d.C * blocks));
    const std::int64_t items = d.C * blocks;
#pragma omp parallel for if (d.N * d.C * d.S >= kParallelGrain) schedule(static)
    for (std::int64_t item = 0; item < items; ++item) {
        const std::int64_t c = item / blocks, b = item % blocks;
        double lane[K][kLanes] = {};
        const std::int64_t n_end = std::min(d.N, (b + 1) * rows);
        const std::int64_t S_main = d.S / kLanes * kLanes;
        for (std::int64_t n = b * rows; n < n_end; ++n) {
            const std::int64_t base = (n * d.C + c) * d.S;
            for (std::int64_t s = 0; s < S_main; s += kLanes)
                for (std::int64_t l = 0; l < kLanes; ++l) {
                    const std::array<double, K> v = f(base + s + l, c);
                    for (std::size_t k = 0; k < K; ++k) lane[k][l] += v[k];
                }
            for (std::int64_t s = S_main; s < d.S; ++s) {
                const std::array<double, K> v = f(base + s, c);
                for (std::size_t k = 0; k < K; ++k) lane[k][s - S_main] += v[k];
            }
        }
        std::array<double, K> acc{};
        for (std::size_t k = 0; k < K; ++k)
            for (std::int64_t l = 0; l < kLanes; ++l) acc[k] += lane[k][l];
        partial[std::size_t(item)] = acc;
    }
    std::array<std::vector<double>, K> out;
    for (std::size_t k = 0; k < K; ++k) out[k].assign(std::size_t(d.C), 0.0);
    for (std::int64_t c = 0; c < d.C; ++c)
        for (std::int64_t b = 0; b < blocks; ++b)
            for (std::size_t k = 0; k < K; ++k) out[k][std::size_t(c)] += partial[std::size_t(c * blocks + b)][k];
    return out;
}

// out[i] = f(i, c) for every element, c its channel.
template <class T, class F>
void for_each_element(const Dims& d, T* out, F&& f) {
    const std::int64_t rows = d.N * d.C;
#pragma omp parallel for if (rows * d.S >= kParallelGrain) schedule(static)
    for (std::int64_t r = 0; r < rows; ++r) {
        const std::int64_t c = r % d.C;
        for (std::int64_t i = r * d.S; i < (r + 1) * d.S; ++i) out[i] = f(i, c);
    }
}

// The value of an optional per-channel parameter, `absent` when undefined.
template <class T>
std::vector<T> channel_values(const Tensor& p, std::int64_t C, T absent) {
    if (!p.defined()) return std::vector<T>(std::size_t(C), absent);
    const T* v = p.data<T>();
    return std::vector<T>(v, v + C);
}

template <class T>
void forward_apply(const Dims& d, const T* x, const T* mean, const T* invstd, const Tensor& gamma,
                   const Tensor& beta, T* y) {
    const std::vector<T> g = channel_values<T>(gamma, d.C, T(1)), b = channel_values<T>(beta, d.C, T(0));
    const BatchNormForward f;
    for_each_element(d, y, [&](std::int64_t i, std::int64_t c) { return f(x[i], mean[c], invstd[c], g[c], b[c]); });
}

// Σdy and, when x is given, Σ(dy*xhat) per channel; assigns the requested dgamma and dbeta.
template <class T>
void backward_sums(const Dims& d, const T* dy, const T* x, const T* mean, const T* invstd, Tensor& dgamma,
                   Tensor& dbeta, std::array<std::vector<double>, 2>& sums) {
    if (x) {
        sums = channel_sums<2>(d, [&](std::int64_t i, std::int64_t c) {
            const double g = double(dy[i]);
            return std::array<double, 2>{g, g * double((x[i] - mean[c]) * invstd[c])};
        });
    } else {
        const auto s = channel_sums<1>(d, [&](std::int64_t i, std::int64_t) { return std::array<double, 1>{double(dy[i])}; });
        sums = {s[0], std::vector<double>()};
    }
    if (dgamma.defined()) {
        T* p = dgamma.data<T>();
        for (std::int64_t c = 0; c < d.C; ++c) p[c] = T(sums[1][std::size_t(c)]);
    }
    if (dbeta.defined()) {
        T* p = dbeta.data<T>();
        for (std::int64_t c = 0; c < d.C; ++c) p[c] = T(sums[0][std::size_t(c)]);
    }
}

template <class T>
const T* data_or_null(const Tensor& t) { return t.defined() ? t.data<T>() : nullptr; }

}  // namespace

void batch_norm_forward_train(const Tensor& x_, const Tensor& gamma, const Tensor& beta, double eps, Tensor& y_,
                              Tensor& mean_, Tensor& invstd_, Tensor& var_) {
    visit_float(x_.dtype(), "batch_norm_forward_train", [&](auto tag) {
        using T = decltype(tag);
        const Dims d(x_);
        const T* x = x_.data<T>();
        T* mean = mean_.data<T>();
        T* invstd = invstd_.data<T>();
        T* var = var_.data<T>();
        const double M = double(d.M());
        // Two passes (mean, then squared deviations) in double: no cancellation from E[x^2] - E[x]^2.
        const auto sum = channel_sums<1>(d, [&](std::int64_t i, std::int64_t) { return std::array<double, 1>{double(x[i])}; });
        std::vector<double> mu(std::size_t(d.C));
        for (std::int64_t c = 0; c < d.C; ++c) mu[std::size_t(c)] = sum[0][std::size_t(c)] / M;
        const auto sq = channel_sums<1>(d, [&](std::int64_t i, std::int64_t c) {
            const double v = double(x[i]) - mu[std::size_t(c)];
            return std::array<double, 1>{v * v};
        });
        const BatchNormInvstd inv;
        for (std::int64_t c = 0; c < d.C; ++c) {
            const double biased = sq[0][std::size_t(c)] / M;
            mean[c] = T(mu[std::size_t(c)]);
            invstd[c] = T(inv(biased, eps));
            var[c] = T(sq[0][std::size_t(c)] / (M - 1));
        }
        forward_apply<T>(d, x, mean, invstd, gamma, beta, y_.data<T>());
    });
}

void batch_norm_forward_eval(const Tensor& x_, const Tensor& running_mean, const Tensor& running_var,
                             const Tensor& gamma, const Tensor& beta, double eps, Tensor& y_) {
    visit_float(x_.dtype(), "batch_norm_forward_eval", [&](auto tag) {
        using T = decltype(tag);
        const Dims d(x_);
        const T* rv = running_var.data<T>();
        std::vector<T> invstd(std::size_t(d.C));
        const BatchNormInvstd inv;
        for (std::int64_t c = 0; c < d.C; ++c) invstd[std::size_t(c)] = inv(rv[c], T(eps));
        forward_apply<T>(d, x_.data<T>(), running_mean.data<T>(), invstd.data(), gamma, beta, y_.data<T>());
    });
}

void batch_norm_backward_train(const Tensor& dy_, const Tensor& x_, const Tensor& mean_, const Tensor& invstd_,
                               const Tensor& gamma, Tensor& dx_, Tensor& dgamma, Tensor& dbeta) {
    visit_float(dy_.dtype(), "batch_norm_backward_train", [&](auto tag) {
        using T = decltype(tag);
        const Dims d(dy_);
        const T* dy = dy_.data<T>();
        const T* x = data_or_null<T>(x_);
        const T* mean = data_or_null<T>(mean_);
        const T* invstd = data_or_null<T>(invstd_);
        std::array<std::vector<double>, 2> sums;
        backward_sums<T>(d, dy, x, mean, invstd, dgamma, dbeta, sums);
        if (!dx_.defined()) return;
        const std::vector<T> g = channel_values<T>(gamma, d.C, T(1));
        std::vector<T> scale(std::size_t(d.C)), mean_dy(std::size_t(d.C)), mean_dy_xhat(std::size_t(d.C));
        for (std::int64_t c = 0; c < d.C; ++c) {
            const auto k = std::size_t(c);
            scale[k] = g[k] * invstd[c];
            mean_dy[k] = T(sums[0][k] / double(d.M()));
            mean_dy_xhat[k] = T(sums[1][k] / double(d.M()));
        }
        const BatchNormBackwardTrain f;
        for_each_element(d, dx_.data<T>(), [&](std::int64_t i, std::int64_t c) {
            const auto k = std::size_t(c);
            return f(dy[i], (x[i] - mean[c]) * invstd[c], scale[k], mean_dy[k], mean_dy_xhat[k]);
        });
    });
}

void batch_norm_backward_eval(const Tensor& dy_, const Tensor& x_, const Tensor& running_mean,
                              const Tensor& running_var, const Tensor& gamma, double eps, Tensor& dx_, Tensor& dgamma,
                              Tensor& dbeta) {
    visit_float(dy_.dtype(), "batch_norm_backward_eval", [&](auto tag) {
        using T = decltype(tag);
        const Dims d(dy_);
        const T* dy = dy_.data<T>();
        const T* rv = running_var.data<T>();
        std::vector<T> invstd(std::size_t(d.C));
        const BatchNormInvstd inv;
        for (std::int64_t c = 0; c < d.C; ++c) invstd[std::size_t(c)] = inv(rv[c], T(eps));
        if (dgamma.defined() || dbeta.defined()) {
            std::array<std::vector<double>, 2> sums;
            backward_sums<T>(d, dy, data_or_null<T>(x_), running_mean.data<T>(), invstd.data(), dgamma, dbeta, sums);
        }
        if (!dx_.defined()) return;
        const std::vector<T> g = channel_values<T>(gamma, d.C, T(1));
        std::vector<T> scale(std::size_t(d.C));
        for (std::int64_t c = 0; c < d.C; ++c) scale[std::size_t(c)] = g[std::size_t(c)] * invstd[std::size_t(c)];
        const BatchNormBackwardEval f;
        for_each_element(d, dx_.data<T>(), [&](std::int64_t i, std::int64_t c) { return f(dy[i], scale[std::size_t(c)]); });
    });
}

void batch_norm_update_running(const Tensor& batch_mean, const Tensor& batch_var, const BatchNormRunning& running) {
    visit_float(batch_mean.dtype(), "batch_norm running statistics", [&](auto tag) {
        using T = decltype(tag);
        const BatchNormRunningUpdate f;
        const T m = T(running.momentum);
        const T* bm = batch_mean.data<T>();
        const T* bv = batch_var.data<T>();
        T* rm = running.mean.data<T>();
        T* rv = running.var.data<T>();
        for (std::int64_t c = 0; c < batch_mean.numel(); ++c) {
            rm[c] = f(rm[c], bm[c], m);
            rv[c] = f(rv[c], bv[c], m);
        }
    });
}

}  // namespace gs::kernels::cpu
