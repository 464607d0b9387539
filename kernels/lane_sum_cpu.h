// The sum of a contiguous run in one fixed order that vectorizes on the baseline ISA.
#pragma once

#include <cstdint>

namespace gs::kernels::cpu {

// p[0] + ... + p[n-1], added in 32 running lanes (element i into lane i % 32 while whole rounds of
// 32 remain), the lanes folded in halves, then the tail in order. A plain running sum is one
// chain of dependent adds that the compiler must keep in order; the lanes are independent, so
// they go into vector registers. The order depends only on n: the conv bias gradient and the
// per-example bias gradients both sum each (image, channel) plane with it, so a per-example
// bias gradient equals a batch-of-one backward pass bit for bit.
template <class T>
T lane_sum(const T* p, std::int64_t n) {
    constexpr int kLanes = 32;
    std::int64_t i = 0;
    T acc = T(0);
    if (n >= kLanes) {
        T lane[kLanes];
        for (int j = 0; j < kLanes; ++j) lane[j] = p[j];
        for (i = kLanes; i + kLanes <= n; i += kLanes)
            for (int j = 0; j < kLanes; ++j) lane[j] += p[i + j];
        for (int w = kLanes / 2; w >= 1; w /= 2)
            for (int j = 0; j < w; ++j) lane[j] += lane[j + w];
        acc = lane[0];
    }
    for (; i < n; ++i) acc += p[i];
    return acc;
}

}  // namespace gs::kernels::cpu
