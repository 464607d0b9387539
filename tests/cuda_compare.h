#pragma once
// Small helpers of the GPU-vs-CPU tests of the cuBLAS/cuDNN kernels (test_cuda_*.cpp) on top of
// cuda_test_util.h: move an optional tensor to the GPU or back. No CUDA headers: these tests
// compile (and skip) in CPU-only builds too.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/tensor.h"
#include "test_util.h"

#include "cuda_test_util.h"

namespace gs::test {

inline Tensor gpu(const Tensor& t) { return t.defined() ? t.to(Device::cuda(0)) : t; }
inline Tensor host(const Tensor& t) { return t.defined() ? t.to(Device::cpu()) : t; }

// Largest |v| of a CPU tensor (the scale of an absolute tolerance).
inline double max_abs(const Tensor& t) {
    double m = 0;
    for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
    return m;
}

// check_close with an absolute bound of `rel` times the largest |value| of the CPU result: for sums
// whose rounding scales with the output's magnitude rather than per element.
inline void check_close_to_scale(const Tensor& gpu_result, const Tensor& cpu_ref, double rel, const std::string& what) {
    check_close(gpu_result, cpu_ref, 0.0, rel * std::max(max_abs(cpu_ref), 1e-30), what);
}

}  // namespace gs::test
