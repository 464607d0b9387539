#include "nn/init.h"

#include <cmath>

#include "tensor/error.h"

namespace gs::nn::init {

namespace {

void check_fillable(const char* op, const Tensor& t) {
    GS_CHECK(t.defined(), "init::", op, ": undefined tensor");
    GS_CHECK(t.dtype() == DType::f32 || t.dtype() == DType::f64, "init::", op, ": needs f32 or f64, got ",
             t.describe());
    GS_CHECK(t.is_contiguous(), "init::", op, ": needs a contiguous tensor, got ", t.describe());
}

std::int64_t receptive(const Tensor& w) {
    std::int64_t r = 1;
    for (std::int64_t d = 2; d < w.dim(); ++d) r *= w.size(d);
    return r;
}

std::int64_t fan(const Tensor& w, FanMode mode) { return mode == FanMode::fan_in ? fan_in(w) : fan_out(w); }

}  // namespace

std::int64_t fan_in(const Tensor& w) {
    GS_CHECK(w.dim() >= 2, "init::fan_in: needs dim >= 2, got ", w.describe());
    return w.size(1) * receptive(w);
}

std::int64_t fan_out(const Tensor& w) {
    GS_CHECK(w.dim() >= 2, "init::fan_out: needs dim >= 2, got ", w.describe());
    return w.size(0) * receptive(w);
}

double leaky_relu_gain(double a) { return std::sqrt(2.0 / (1.0 + a * a)); }

void zeros(Tensor& t) {
    GS_CHECK(t.defined(), "init::zeros: undefined tensor");
    t.zero_();
}

void uniform(Tensor& t, Generator& gen, double low, double high) {
    check_fillable("uniform", t);
    uniform_(t, gen, low, high);
}

void normal(Tensor& t, Generator& gen, double mean, double std) {
    check_fillable("normal", t);
    normal_(t, gen, mean, std);
}

void kaiming_uniform(Tensor& t, Generator& gen, double a, FanMode mode) {
    check_fillable("kaiming_uniform", t);
    const double bound = leaky_relu_gain(a) * std::sqrt(3.0 / double(fan(t, mode)));
    uniform_(t, gen, -bound, bound);
}

void kaiming_normal(Tensor& t, Generator& gen, double a, FanMode mode) {
    check_fillable("kaiming_normal", t);
    normal_(t, gen, 0.0, leaky_relu_gain(a) / std::sqrt(double(fan(t, mode))));
}

void xavier_uniform(Tensor& t, Generator& gen, double gain) {
    check_fillable("xavier_uniform", t);
    const double bound = gain * std::sqrt(6.0 / double(fan_in(t) + fan_out(t)));
    uniform_(t, gen, -bound, bound);
}

void xavier_normal(Tensor& t, Generator& gen, double gain) {
    check_fillable("xavier_normal", t);
    normal_(t, gen, 0.0, gain * std::sqrt(2.0 / double(fan_in(t) + fan_out(t))));
}

void truncated_normal(Tensor& t, Generator& gen, double mean, double std, double low, double high) {
    check_fillable("truncated_normal", t);
    GS_CHECK(low < high && std > 0, "init::truncated_normal: needs low < high and std > 0, got [", low, ", ",
             high, "] std ", std);
    const std::int64_t n = t.numel();
    std::vector<double> kept;
    kept.reserve(std::size_t(n));
    // Acceptance is at least ~5% for any interval within a few std of the mean; the round limit
    // turns a hopeless interval (far in the tail) into an error instead of an endless loop.
    for (int round = 0; std::int64_t(kept.size()) < n; ++round) {
        GS_CHECK(round < 1000, "init::truncated_normal: [", low, ", ", high, "] is too unlikely under N(", mean,
                 ", ", std, ")");
        const std::vector<double> draw = gs::normal({n}, gen, mean, std, DType::f64).to_vector<double>();
        for (double v : draw)
            if (v >= low && v <= high && std::int64_t(kept.size()) < n) kept.push_back(v);
    }
    t.copy_(Tensor::from_vector(kept, t.shape()));
}

void pytorch_default(Tensor& weight, Tensor* bias, Generator& gen) {
    kaiming_uniform(weight, gen, std::sqrt(5.0));
    if (bias && bias->defined()) {
        const double bound = 1.0 / std::sqrt(double(fan_in(weight)));
        uniform(*bias, gen, -bound, bound);
    }
}

}  // namespace gs::nn::init
