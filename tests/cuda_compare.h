#pragma once
// Helpers of the GPU-vs-CPU tests of the cuBLAS/cuDNN kernels (test_cuda_*.cpp): move inputs to
// the GPU, bring results back, and compare element by element with the CPU path's result. No CUDA
// headers: these tests compile (and skip) in CPU-only builds too.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/tensor.h"
#include "test_util.h"

#if __has_include("cuda_test_util.h")
#include "cuda_test_util.h"
#endif

#ifndef GS_REQUIRE_GPU
// Temporary stand-in for tests/cuda_test_util.h's macro (the lead drops it at merge): a test case
// without a usable GPU prints the skip marker and returns.
#define GS_REQUIRE_GPU()                                  \
    do {                                                  \
        if (!::gs::cuda_available()) {                    \
            MESSAGE("GS_SKIP: no CUDA device");           \
            return;                                       \
        }                                                 \
    } while (0)
#endif

namespace gs::test {

inline Tensor gpu(const Tensor& t) { return t.defined() ? t.to(Device::cuda(0)) : t; }
inline Tensor host(const Tensor& t) { return t.defined() ? t.to(Device::cpu()) : t; }

// Largest |v| of a CPU tensor (the scale of an absolute tolerance).
inline double max_abs(const Tensor& t) {
    double m = 0;
    for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
    return m;
}

// got (a CUDA tensor) against want (the CPU path's result): same shape and dtype, and every element
// within atol + rtol * |want| (NaN matches NaN). Reports the first offending elements.
inline void check_gpu_close(const Tensor& got, const Tensor& want, double rtol, double atol, const std::string& what) {
    REQUIRE_MESSAGE(got.defined(), what, ": the GPU result is undefined");
    CHECK_MESSAGE(got.device().is_cuda(), what, ": the GPU result is on ", got.device().str());
    REQUIRE_MESSAGE(got.shape() == want.shape(), what, ": shape ", shape_str(got.shape()), " vs CPU ",
                    shape_str(want.shape()));
    REQUIRE(got.dtype() == want.dtype());
    check_close(host(got), want.to_vector<double>(), rtol, atol, what);
}

}  // namespace gs::test
