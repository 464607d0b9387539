#pragma once
// Element types and the visit helpers that turn a runtime dtype into a template parameter.
#include <cstddef>
#include <cstdint>
#include <string>
#include <type_traits>

#include "tensor/error.h"

namespace gs {

enum class DType : std::uint8_t { f32, f64, i64, u8 };

constexpr std::size_t dtype_size(DType d) {
    switch (d) {
        case DType::f32: return 4;
        case DType::f64: return 8;
        case DType::i64: return 8;
        case DType::u8: return 1;
    }
    return 0;
}

constexpr const char* dtype_name(DType d) {
    switch (d) {
        case DType::f32: return "f32";
        case DType::f64: return "f64";
        case DType::i64: return "i64";
        case DType::u8: return "u8";
    }
    return "?";
}

constexpr bool is_floating(DType d) { return d == DType::f32 || d == DType::f64; }

template <class T> constexpr DType dtype_of();
template <> constexpr DType dtype_of<float>() { return DType::f32; }
template <> constexpr DType dtype_of<double>() { return DType::f64; }
template <> constexpr DType dtype_of<std::int64_t>() { return DType::i64; }
template <> constexpr DType dtype_of<std::uint8_t>() { return DType::u8; }

// Calls f(T{}) with T the C++ type of d. All branches must compile for every dtype.
template <class F>
decltype(auto) visit_dtype(DType d, F&& f) {
    switch (d) {
        case DType::f32: return f(float{});
        case DType::f64: return f(double{});
        case DType::i64: return f(std::int64_t{});
        case DType::u8: return f(std::uint8_t{});
    }
    GS_FAIL("visit_dtype: invalid dtype ", int(d));
}

// Like visit_dtype, for ops defined on f32 and f64 only; other dtypes throw naming `op`.
template <class F>
decltype(auto) visit_float(DType d, const char* op, F&& f) {
    switch (d) {
        case DType::f32: return f(float{});
        case DType::f64: return f(double{});
        default: GS_FAIL(op, ": expected a floating dtype (f32 or f64), got ", dtype_name(d));
    }
}

}  // namespace gs
