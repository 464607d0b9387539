// Random fills. Each element draws from its own Philox block (the draws of random_draw.h), in
// parallel on the CPU or in random_cuda.cu on a CUDA device.
#include "tensor/random.h"

#include <cmath>

#include "tensor/random_draw.h"

namespace gs {
namespace {

// Fills contiguous t with draw(i) for element i on t's device. Draw's operator() must be defined
// for t's dtype.
template <class Draw>
void fill(Tensor& t, const char* op, const Draw& draw) {
    check_contiguous(op, t, "the output");
    if (t.device().is_cuda()) {
        detail::cuda_random_fill(t, draw);
        return;
    }
    const std::int64_t n = t.numel();
    visit_dtype(t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = t.data<T>();
#pragma omp parallel for if (n >= 4096) schedule(static)
        for (std::int64_t i = 0; i < n; ++i) p[i] = draw.template operator()<T>(i);
    });
}

}  // namespace

void uniform_(Tensor& t, Generator& gen, double low, double high) {
    GS_CHECK(low < high && std::isfinite(high - low), "uniform: invalid range [", low, ", ", high, ")");
    GS_CHECK(is_floating(t.dtype()), "uniform: expected f32 or f64, got ", dtype_name(t.dtype()));
    fill(t, "uniform", detail::UniformDraw{gen.seed, gen.stream, gen.offset, low, high});
    gen.offset += std::uint64_t(t.numel());
}

void normal_(Tensor& t, Generator& gen, double mean, double std) {
    GS_CHECK(std >= 0 && std::isfinite(mean) && std::isfinite(std), "normal: invalid mean ", mean, " or std ", std);
    GS_CHECK(is_floating(t.dtype()), "normal: expected f32 or f64, got ", dtype_name(t.dtype()));
    fill(t, "normal", detail::NormalDraw{gen.seed, gen.stream, gen.offset, mean, std});
    gen.offset += std::uint64_t(t.numel());
}

Tensor uniform(const Shape& shape, Generator& gen, double low, double high, DType dtype, Device device) {
    Tensor t = Tensor::empty(shape, dtype, device);
    uniform_(t, gen, low, high);
    return t;
}

Tensor normal(const Shape& shape, Generator& gen, double mean, double std, DType dtype, Device device) {
    Tensor t = Tensor::empty(shape, dtype, device);
    normal_(t, gen, mean, std);
    return t;
}

Tensor bernoulli(const Shape& shape, Generator& gen, double p, DType dtype, Device device) {
    GS_CHECK(p >= 0 && p <= 1, "bernoulli: probability ", p, " is outside [0, 1]");
    Tensor t = Tensor::empty(shape, dtype, device);
    fill(t, "bernoulli", detail::BernoulliDraw{gen.seed, gen.stream, gen.offset, p});
    gen.offset += std::uint64_t(t.numel());
    return t;
}

Tensor randint(const Shape& shape, Generator& gen, std::int64_t low, std::int64_t high, DType dtype, Device device) {
    GS_CHECK(low < high, "randint: empty range [", low, ", ", high, ")");
    GS_CHECK(dtype == DType::i64 || (dtype == DType::u8 && low >= 0 && high <= 256), "randint: range [", low, ", ",
             high, ") does not fit dtype ", dtype_name(dtype));
    Tensor t = Tensor::empty(shape, dtype, device);
    // Unsigned arithmetic: high - low overflows int64 for ranges wider than 2^63.
    const std::uint64_t range = std::uint64_t(high) - std::uint64_t(low);
    fill(t, "randint", detail::RandintDraw{gen.seed, gen.stream, gen.offset, low, range});
    gen.offset += std::uint64_t(t.numel());
    return t;
}

Tensor randperm(std::int64_t n, Generator& gen) {
    GS_CHECK(n >= 0, "randperm: negative length ", n);
    Tensor t = Tensor::arange(n);
    auto* p = t.data<std::int64_t>();
    // Fisher-Yates: step k swaps position k with one drawn uniformly from [k, n).
    for (std::int64_t k = 0; k + 1 < n; ++k) {
        const auto b = Philox4x32::generate(gen.seed, gen.stream, gen.offset + std::uint64_t(k));
        const std::uint64_t x = std::uint64_t(b[0]) << 32 | b[1];
        const auto j = k + std::int64_t(detail::mul_hi64(x, std::uint64_t(n - k)));
        std::swap(p[k], p[j]);
    }
    gen.offset += std::uint64_t(n);
    return t;
}

}  // namespace gs
