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

}  // namespace gs::test
