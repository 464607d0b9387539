// Random fills on the CPU. Each element draws from its own Philox block, in parallel.
#include "tensor/random.h"

#include <cmath>
#include <numbers>

#include "tensor/philox.h"

namespace gs {
namespace {

// Uniform [0, 1) for element i of a fill.
template <class T>
T uniform01(const Generator& g, std::int64_t i) {
    const auto b = Philox4x32::generate(g.seed, g.stream, g.offset + std::uint64_t(i));
    if constexpr (std::is_same_v<T, float>) return Philox4x32::to_float(b[0]);
    else return Philox4x32::to_double(b[0], b[1]);
}

template <class T>
T normal01(const Generator& g, std::int64_t i) {
    const auto b = Philox4x32::generate(g.seed, g.stream, g.offset + std::uint64_t(i));
    // 1 - u keeps the logarithm's argument in (0, 1].
    double u1, u2;
    if constexpr (std::is_same_v<T, float>) {
        u1 = 1.0 - Philox4x32::to_float(b[0]);
        u2 = Philox4x32::to_float(b[1]);
    } else {
        u1 = 1.0 - Philox4x32::to_double(b[0], b[1]);
        u2 = Philox4x32::to_double(b[2], b[3]);
    }
    return static_cast<T>(std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2));
}

template <class F>
void fill_parallel(Tensor& t, const char* op, F&& f) {
    check_contiguous(op, t, "the output");
    GS_CHECK(t.device().is_cpu(), op, ": not implemented on ", t.device().str());
    const std::int64_t n = t.numel();
    visit_dtype(t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        T* p = t.data<T>();
#pragma omp parallel for if (n >= 4096) schedule(static)
        for (std::int64_t i = 0; i < n; ++i) p[i] = f(T{}, i);
    });
}

}  // namespace

void uniform_(Tensor& t, Generator& gen, double low, double high) {
    GS_CHECK(low < high && std::isfinite(high - low), "uniform: invalid range [", low, ", ", high, ")");
    GS_CHECK(is_floating(t.dtype()), "uniform: expected f32 or f64, got ", dtype_name(t.dtype()));
    const Generator g = gen;
    fill_parallel(t, "uniform", [&](auto tag, std::int64_t i) {
        using T = decltype(tag);
        if constexpr (std::is_floating_point_v<T>) {
            T v = static_cast<T>(low + (high - low) * double(uniform01<T>(g, i)));
            // Rounding can land on `high` for a float range; keep the interval half-open.
            return v < static_cast<T>(high) ? v : static_cast<T>(low);
        } else {
            return T{};
        }
    });
    gen.offset += std::uint64_t(t.numel());
}

void normal_(Tensor& t, Generator& gen, double mean, double std) {
    GS_CHECK(std >= 0 && std::isfinite(mean) && std::isfinite(std), "normal: invalid mean ", mean, " or std ", std);
    GS_CHECK(is_floating(t.dtype()), "normal: expected f32 or f64, got ", dtype_name(t.dtype()));
    const Generator g = gen;
    fill_parallel(t, "normal", [&](auto tag, std::int64_t i) {
        using T = decltype(tag);
        if constexpr (std::is_floating_point_v<T>) return static_cast<T>(mean + std * double(normal01<T>(g, i)));
        else return T{};
    });
    gen.offset += std::uint64_t(t.numel());
}

Tensor uniform(const Shape& shape, Generator& gen, double low, double high, DType dtype) {
    Tensor t = Tensor::empty(shape, dtype);
    uniform_(t, gen, low, high);
    return t;
}

Tensor normal(const Shape& shape, Generator& gen, double mean, double std, DType dtype) {
    Tensor t = Tensor::empty(shape, dtype);
    normal_(t, gen, mean, std);
    return t;
}

Tensor bernoulli(const Shape& shape, Generator& gen, double p, DType dtype) {
    GS_CHECK(p >= 0 && p <= 1, "bernoulli: probability ", p, " is outside [0, 1]");
    Tensor t = Tensor::empty(shape, dtype);
    const Generator g = gen;
    fill_parallel(t, "bernoulli", [&](auto tag, std::int64_t i) {
        using T = decltype(tag);
        return static_cast<T>(uniform01<double>(g, i) < p ? 1 : 0);
    });
    gen.offset += std::uint64_t(t.numel());
    return t;
}

Tensor randint(const Shape& shape, Generator& gen, std::int64_t low, std::int64_t high, DType dtype) {
    GS_CHECK(low < high, "randint: empty range [", low, ", ", high, ")");
    GS_CHECK(dtype == DType::i64 || (dtype == DType::u8 && low >= 0 && high <= 256), "randint: range [", low, ", ",
             high, ") does not fit dtype ", dtype_name(dtype));
    Tensor t = Tensor::empty(shape, dtype);
    const Generator g = gen;
    // Unsigned arithmetic: high - low overflows int64 for ranges wider than 2^63.
    const std::uint64_t range = std::uint64_t(high) - std::uint64_t(low);
    fill_parallel(t, "randint", [&](auto tag, std::int64_t i) {
        using T = decltype(tag);
        const auto b = Philox4x32::generate(g.seed, g.stream, g.offset + std::uint64_t(i));
        const std::uint64_t x = std::uint64_t(b[0]) << 32 | b[1];
        // Multiply-shift maps 64 random bits onto [0, range); the bias is below 2^-64 * range.
        const auto r = std::uint64_t((static_cast<unsigned __int128>(x) * range) >> 64);
        return static_cast<T>(std::int64_t(std::uint64_t(low) + r));
    });
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
        const auto j = k + std::int64_t((static_cast<unsigned __int128>(x) * std::uint64_t(n - k)) >> 64);
        std::swap(p[k], p[j]);
    }
    gen.offset += std::uint64_t(n);
    return t;
}

}  // namespace gs
