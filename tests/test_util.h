#pragma once
// Helpers shared by the test files: random inputs, naive strided element access with broadcasting,
// element-by-element comparisons, and gradient checks with doctest reporting. One header so that
// every test compares and seeds the same way.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "autograd/gradcheck.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace gs::test {

// ---- random inputs ---------------------------------------------------------------------------

// Normal(mean, std) values in dtype T from Generator(seed) (stream 0).
template <class T>
Tensor randn(const Shape& shape, std::uint64_t seed, double mean = 0.0, double std = 1.0) {
    Generator g(seed);
    return normal(shape, g, mean, std, dtype_of<T>());
}

// f64 normal values for a gradcheck input. Stream 7, so these differ from randn<double>(shape, seed).
inline Tensor randn64(const Shape& shape, std::uint64_t seed) {
    Generator g(seed, 7);
    return normal(shape, g, 0.0, 1.0, DType::f64);
}

// Uniform values in [-1, 1] in dtype T, drawn from (and advancing) a caller-owned generator.
template <class T>
Tensor randu(const Shape& shape, Generator& g) {
    return uniform(shape, g, -1.0, 1.0, dtype_of<T>());
}

// N class labels in 0..C-1 (i64).
inline Tensor labels_for(std::int64_t N, std::int64_t C, std::uint64_t seed) {
    Generator g(seed);
    return randint({N}, g, 0, C);
}

// N targets of ±1 in dtype T.
template <class T>
Tensor pm1(std::int64_t N, std::uint64_t seed) {
    Generator g(seed);
    const auto b = bernoulli({N}, g, 0.5, DType::f64).to_vector<double>();
    std::vector<T> t;
    for (double v : b) t.push_back(v > 0 ? T(1) : T(-1));
    return Tensor::from_vector(t, {N});
}

// Appends copies of the first `count` images (u8 (N, C, H, W)) whose labels (i64 (N)) are moved to
// the next class mod `classes`: a training set no classifier can fit, where the examples left
// unfit are known (one of each pair i, N + i).
inline void append_conflicting_copies(Tensor& images, Tensor& labels, std::int64_t count, std::int64_t classes) {
    const std::int64_t N = images.size(0), P = images.numel() / N;
    const std::vector<std::uint8_t> px0 = images.contiguous().to_vector<std::uint8_t>();
    std::vector<std::uint8_t> px = px0;
    std::vector<std::int64_t> lab = labels.to_vector<std::int64_t>();
    for (std::int64_t k = 0; k < count; ++k) {
        px.insert(px.end(), px0.begin() + k * P, px0.begin() + (k + 1) * P);
        lab.push_back((lab[std::size_t(k)] + 1) % classes);
    }
    Shape shape = images.shape();
    shape[0] = N + count;
    images = Tensor::from_vector(px, shape);
    labels = Tensor::from_vector(lab);
}

// ---- naive element access --------------------------------------------------------------------

// Coordinates of flat position i in a row-major `shape`.
inline std::vector<std::int64_t> unravel(std::int64_t i, const Shape& shape) {
    std::vector<std::int64_t> c(shape.size());
    for (std::int64_t d = std::int64_t(shape.size()) - 1; d >= 0; --d) {
        c[std::size_t(d)] = i % shape[std::size_t(d)];
        i /= shape[std::size_t(d)];
    }
    return c;
}

// Element of t at `coord` of a (possibly larger) broadcast shape: t's dims are right-aligned, and
// a size-1 dim of t reads coordinate 0. Reads storage through t's own strides.
template <class T>
T read_bcast(const Tensor& t, const std::vector<std::int64_t>& coord) {
    const std::size_t lead = coord.size() - std::size_t(t.dim());
    std::int64_t off = 0;
    for (std::int64_t d = 0; d < t.dim(); ++d)
        if (t.size(d) != 1) off += coord[lead + std::size_t(d)] * t.stride(d);
    return t.data<T>()[off];
}

// Element at `coord` (same rank as t).
template <class T>
T read_at(const Tensor& t, const std::vector<std::int64_t>& coord) {
    std::int64_t off = 0;
    for (std::int64_t d = 0; d < t.dim(); ++d) off += coord[std::size_t(d)] * t.stride(d);
    return t.data<T>()[off];
}

// ---- comparisons -----------------------------------------------------------------------------

// Max |a[i] - b[i]| over two equally long lists, computed in f64. A NaN difference (NaN on either
// side) gives infinity, so `max_abs_diff(...) < tol` fails instead of silently skipping it.
inline double max_abs_diff(const std::vector<double>& a, const std::vector<double>& b) {
    REQUIRE(a.size() == b.size());
    double m = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const double d = std::abs(a[i] - b[i]);
        if (std::isnan(d)) return INFINITY;
        m = std::max(m, d);
    }
    return m;
}

// Max |a - b| over all elements of two tensors of the same shape.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
    REQUIRE(a.shape() == b.shape());
    return max_abs_diff(a.to_vector<double>(), b.to_vector<double>());
}

// Max |a - want| against a flat row-major reference of a's numel.
inline double max_abs_diff(const Tensor& a, const std::vector<double>& want) {
    return max_abs_diff(a.to_vector<double>(), want);
}

inline bool same_or_both_nan(double a, double b) { return (std::isnan(a) && std::isnan(b)) || a == b; }

// |got - want| <= atol + rtol |want| for every element, NaN matching NaN. Reports the first miss.
inline void check_close(const Tensor& got, const std::vector<double>& want, double rtol, double atol,
                        const std::string& what = "") {
    REQUIRE(got.numel() == std::int64_t(want.size()));
    const std::vector<double> g = got.to_vector<double>();
    for (std::size_t i = 0; i < want.size(); ++i) {
        const bool ok = (std::isnan(want[i]) && std::isnan(g[i])) ||
                        (std::isinf(want[i]) && g[i] == want[i]) ||
                        std::abs(g[i] - want[i]) <= atol + rtol * std::abs(want[i]);
        if (!ok) {
            INFO(what, ": element ", i, " got ", g[i], " want ", want[i]);
            CHECK(ok);
            return;
        }
    }
}

template <class T> constexpr DType dt() { return dtype_of<T>(); }

// f32 results are compared with a relative tolerance of a few ulps of float; f64 tighter.
template <class T> constexpr double rtol_for() { return std::is_same_v<T, float> ? 2e-6 : 1e-13; }

// ---- gradient checks -------------------------------------------------------------------------

// Runs autograd::gradcheck and fails the current test case with the worst element when it fails.
inline void check_grad(const std::string& name, const autograd::GradcheckFn& f, const std::vector<Tensor>& inputs,
                       const autograd::GradcheckOptions& options = {}) {
    const autograd::GradcheckResult r = autograd::gradcheck(name, f, inputs, options);
    INFO(r.message);
    CHECK(r.ok);
}

}  // namespace gs::test
