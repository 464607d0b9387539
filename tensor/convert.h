#pragma once
// Whether a value converts to another element type without leaving its range: a float-to-integer
// conversion out of range (or of NaN) is undefined behaviour, and an integer narrowing would wrap
// into a silent wrong value. One definition for the CPU copy loop and the CUDA copy kernel.
#include <cstdint>
#include <type_traits>

#if defined(__CUDACC__)
#define GS_CONVERT_HD __host__ __device__
#else
#define GS_CONVERT_HD
#endif

namespace gs {

// D and S are gradscope element types (float, double, std::int64_t, std::uint8_t).
template <class D, class S>
GS_CONVERT_HD inline bool fits(S v) {
    if constexpr (std::is_floating_point_v<D> || std::is_same_v<D, S>) {
        return true;  // f64 -> f32 overflow rounds to inf, as IEEE defines
    } else if constexpr (std::is_floating_point_v<S>) {
        // D's range as doubles: [lowest, max + 1), and NaN fails both comparisons.
        if constexpr (std::is_same_v<D, std::int64_t>) return v >= -9223372036854775808.0 && v < 9223372036854775808.0;
        else return v >= 0.0 && v < 256.0;  // u8
    } else if constexpr (std::is_same_v<D, std::uint8_t>) {
        return v >= 0 && v <= 255;  // i64 -> u8
    } else {
        return true;  // u8 -> i64
    }
}

}  // namespace gs
