#pragma once
// GPU tests: how they skip without a device, and the helpers that compare a CUDA result with the
// CPU's. No CUDA headers: these tests compile (and skip) in a CPU-only build too.
//
// Each GPU TEST_CASE starts with GS_REQUIRE_GPU(). Without a usable CUDA device it logs the marker
// "GS_SKIP: no CUDA device" and returns; tests/CMakeLists.txt gives every discovered test
// SKIP_REGULAR_EXPRESSION on that marker, so CTest reports the case as "Skipped", not "Passed".
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/tensor.h"

#define GS_SKIP_MARKER "GS_SKIP: no CUDA device"

#define GS_REQUIRE_GPU()                                                                 \
    do {                                                                                 \
        if (!::gs::cuda_available()) {                                                   \
            MESSAGE(GS_SKIP_MARKER " (built with CUDA: " << ::gs::cuda_built() << ")"); \
            return;                                                                      \
        }                                                                                \
    } while (0)

namespace gs::test {

inline Device gpu() { return Device::cuda(0); }

// The values of a tensor on any device as doubles (copied to the CPU first when needed).
inline std::vector<double> values(const Tensor& t) { return t.to(Device::cpu()).to_vector<double>(); }

// Checks that the CUDA result `gpu_result` has the shape, dtype and (within |a - b| <= atol +
// rtol*|b|, NaN matching NaN) the values of the CPU reference; reports the worst element.
inline void check_close(const Tensor& gpu_result, const Tensor& cpu_ref, double rtol, double atol,
                        const std::string& what) {
    INFO(what);
    REQUIRE(gpu_result.defined() == cpu_ref.defined());
    if (!cpu_ref.defined()) return;
    CHECK(gpu_result.device().is_cuda());
    REQUIRE(gpu_result.shape() == cpu_ref.shape());
    REQUIRE(gpu_result.dtype() == cpu_ref.dtype());
    const std::vector<double> a = values(gpu_result), b = values(cpu_ref);
    std::int64_t worst = -1;
    double worst_excess = 0;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const bool both_nan = std::isnan(a[i]) && std::isnan(b[i]);
        const bool same_inf = std::isinf(a[i]) && a[i] == b[i];
        if (both_nan || same_inf) continue;
        const double excess = std::abs(a[i] - b[i]) - (atol + rtol * std::abs(b[i]));
        if (!(excess <= 0) && (worst < 0 || !(excess <= worst_excess))) worst = std::int64_t(i), worst_excess = excess;
    }
    if (worst >= 0) {
        CHECK_MESSAGE(false, what << ": element " << worst << " is " << a[std::size_t(worst)] << " on CUDA, "
                                  << b[std::size_t(worst)] << " on the CPU");
    }
}

// Bit-for-bit equality of a CUDA result and the CPU reference (the same dtype and shape).
inline void check_equal(const Tensor& gpu_result, const Tensor& cpu_ref, const std::string& what) {
    check_close(gpu_result, cpu_ref, 0.0, 0.0, what);
}

}  // namespace gs::test
