#pragma once
// Puts the per-example kernels on their composite backend (the path CUDA tensors take) for CPU
// tensors while alive, so tests check that path against the CPU loops without a GPU.
#include "kernels/per_example.h"

namespace gs::test {

struct CompositePath {
    explicit CompositePath(bool on) { kernels::set_per_example_composite(on); }
    ~CompositePath() { kernels::set_per_example_composite(false); }
    CompositePath(const CompositePath&) = delete;
    CompositePath& operator=(const CompositePath&) = delete;
};

}  // namespace gs::test
