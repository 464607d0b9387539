#pragma once
// Small helpers for the kernel tests: naive strided element access with broadcasting, index
// unraveling, and element-by-element comparison that reports the first mismatch.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace gs::test {

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

}  // namespace gs::test
