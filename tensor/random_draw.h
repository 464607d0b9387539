#pragma once
// The draws of the random fills (tensor/random.h) as functors of the element index, shared by the
// CPU loop (random.cpp) and the CUDA kernel (random_cuda.cu): element i of a fill at generator
// state (seed, stream, offset) is draw(i), on either device.
//
// Bit-for-bit equality across devices: uniform, bernoulli and randint use only integer arithmetic
// and IEEE +, -, * with explicit rounding (no fused multiply-add, which nvcc would otherwise
// contract to), so both devices produce the same bits. normal also needs log, sqrt and cos, which
// CUDA's math library computes to within 1-2 ulp of glibc's: normal draws agree to a few ulp, not
// bit for bit.
#include <cmath>
#include <cstdint>
#include <numbers>
#include <type_traits>

#include "tensor/philox.h"

namespace gs::detail {

// a * b and a + b rounded once each, never fused into an FMA on the device.
GS_PHILOX_HD inline double mul_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
    return __dmul_rn(a, b);
#else
    return a * b;
#endif
}
GS_PHILOX_HD inline double add_rn(double a, double b) {
#if defined(__CUDA_ARCH__)
    return __dadd_rn(a, b);
#else
    return a + b;
#endif
}
// The high 64 bits of the 128-bit product x * y.
GS_PHILOX_HD inline std::uint64_t mul_hi64(std::uint64_t x, std::uint64_t y) {
#if defined(__CUDA_ARCH__)
    return __umul64hi(x, y);
#else
    return std::uint64_t((static_cast<unsigned __int128>(x) * y) >> 64);
#endif
}

// Uniform [0, 1) for element i: 24 random bits for float, 53 for double.
template <class T>
GS_PHILOX_HD T uniform01(std::uint64_t seed, std::uint64_t stream, std::uint64_t offset, std::int64_t i) {
    const auto b = Philox4x32::generate(seed, stream, offset + std::uint64_t(i));
    if constexpr (std::is_same_v<T, float>) return Philox4x32::to_float(b[0]);
    else return Philox4x32::to_double(b[0], b[1]);
}

// Uniform in [low, high); T f32 or f64 (other types give 0, never used).
struct UniformDraw {
    std::uint64_t seed, stream, offset;
    double low, high;
    template <class T>
    GS_PHILOX_HD T operator()(std::int64_t i) const {
        if constexpr (std::is_floating_point_v<T>) {
            const double u = double(uniform01<T>(seed, stream, offset, i));
            const T v = static_cast<T>(add_rn(low, mul_rn(high - low, u)));
            // Rounding can land on `high` for a float range; keep the interval half-open.
            return v < static_cast<T>(high) ? v : static_cast<T>(low);
        } else {
            return T{};
        }
    }
};

// Normal(mean, std) by Box-Muller from one Philox block; T f32 or f64.
struct NormalDraw {
    std::uint64_t seed, stream, offset;
    double mean, std;
    template <class T>
    GS_PHILOX_HD T operator()(std::int64_t i) const {
        if constexpr (std::is_floating_point_v<T>) {
            const auto b = Philox4x32::generate(seed, stream, offset + std::uint64_t(i));
            // 1 - u keeps the logarithm's argument in (0, 1].
            double u1, u2;
            if constexpr (std::is_same_v<T, float>) {
                u1 = 1.0 - Philox4x32::to_float(b[0]);
                u2 = Philox4x32::to_float(b[1]);
            } else {
                u1 = 1.0 - Philox4x32::to_double(b[0], b[1]);
                u2 = Philox4x32::to_double(b[2], b[3]);
            }
            const double z = mul_rn(std::sqrt(-2.0 * std::log(u1)), std::cos(mul_rn(2.0 * std::numbers::pi, u2)));
            return static_cast<T>(add_rn(mean, mul_rn(std, double(static_cast<T>(z)))));
        } else {
            return T{};
        }
    }
};

// 1 with probability p (a 53-bit uniform below p), else 0; any T.
struct BernoulliDraw {
    std::uint64_t seed, stream, offset;
    double p;
    template <class T>
    GS_PHILOX_HD T operator()(std::int64_t i) const {
        return static_cast<T>(uniform01<double>(seed, stream, offset, i) < p ? 1 : 0);
    }
};

// Integers in [low, low + range) by multiply-shift of 64 random bits (bias below 2^-64 * range);
// T i64 or u8.
struct RandintDraw {
    std::uint64_t seed, stream, offset;
    std::int64_t low;
    std::uint64_t range;
    template <class T>
    GS_PHILOX_HD T operator()(std::int64_t i) const {
        const auto b = Philox4x32::generate(seed, stream, offset + std::uint64_t(i));
        const std::uint64_t x = std::uint64_t(b[0]) << 32 | b[1];
        return static_cast<T>(std::int64_t(std::uint64_t(low) + mul_hi64(x, range)));
    }
};

}  // namespace gs::detail

namespace gs {
class Tensor;
namespace detail {
// Fills the contiguous CUDA tensor t with draw(i) for element i (random_cuda.cu). In a CPU-only
// build no CUDA tensor exists and these throw.
void cuda_random_fill(Tensor& t, const UniformDraw& draw);
void cuda_random_fill(Tensor& t, const NormalDraw& draw);
void cuda_random_fill(Tensor& t, const BernoulliDraw& draw);
void cuda_random_fill(Tensor& t, const RandintDraw& draw);
}  // namespace detail
}  // namespace gs
