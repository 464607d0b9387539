// One loop over [0, n) on the OpenMP team, or on this thread alone.
#pragma once

#include <cstdint>

namespace gs::kernels::cpu {

// body(i) for every i in [0, n): split statically over the team when `parallel`, else in order on
// this thread. Use it instead of `omp parallel for if (parallel)` whenever the body calls code that
// opens parallel regions of its own (gemm, the conv kernels): a region that if() leaves with one
// thread still counts as an enclosing team, and libgomp starts a fresh thread (pthread_create)
// for every parallel region nested in it, on every call. (A matmul of one product did that on each
// linear layer's forward pass.)
template <class F>
void parallel_for_if(bool parallel, std::int64_t n, F&& body) {
    if (parallel) {
#pragma omp parallel for schedule(static)
        for (std::int64_t i = 0; i < n; ++i) body(i);
    } else {
        for (std::int64_t i = 0; i < n; ++i) body(i);
    }
}

}  // namespace gs::kernels::cpu
