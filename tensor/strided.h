#pragma once
// A loop over the rows of K strided operands that share one shape: the building block for copies
// and for elementwise kernels with broadcasting (a broadcast operand has stride 0).
#include <array>
#include <cstdint>

#include "tensor/shape.h"

namespace gs {

// Rows of at least this many elements in total make a loop go parallel.
inline constexpr std::int64_t kParallelGrain = 32768;

template <std::size_t K>
struct RowLayout {
    Shape outer;                          // sizes of the dims above the row
    std::array<Strides, K> outer_strides; // per operand, for those dims
    std::int64_t row_len = 1;             // elements per row
    std::array<std::int64_t, K> row_stride{};  // per operand, between elements of a row
    std::int64_t rows = 1;
};

// Merges adjacent dims that are contiguous in every operand, then splits off the last dim as
// the row. Size-1 dims are dropped.
template <std::size_t K>
RowLayout<K> make_row_layout(const Shape& shape, const std::array<Strides, K>& strides) {
    Shape sizes;
    std::array<Strides, K> st;
    for (std::size_t d = 0; d < shape.size(); ++d) {
        if (shape[d] == 1) continue;
        bool merge = !sizes.empty();
        for (std::size_t k = 0; k < K && merge; ++k)
            merge = st[k].back() == strides[k][d] * shape[d];
        if (merge) {
            sizes.back() *= shape[d];
            for (std::size_t k = 0; k < K; ++k) st[k].back() = strides[k][d];
        } else {
            sizes.push_back(shape[d]);
            for (std::size_t k = 0; k < K; ++k) st[k].push_back(strides[k][d]);
        }
    }
    RowLayout<K> L;
    if (sizes.empty()) return L;  // a single element
    L.row_len = sizes.back();
    for (std::size_t k = 0; k < K; ++k) {
        L.row_stride[k] = st[k].back();
        L.outer_strides[k].assign(st[k].begin(), st[k].end() - 1);
    }
    L.outer.assign(sizes.begin(), sizes.end() - 1);
    L.rows = numel(L.outer);
    return L;
}

// Calls f(offsets, row_len, row_strides) once per row, where offsets[k] is the element offset of
// the row's first element in operand k (relative to base[k]). Rows run in parallel under OpenMP
// when the total work is large; f must only write to the row it is given.
template <std::size_t K, class F>
void for_each_row(const Shape& shape, const std::array<Strides, K>& strides,
                  const std::array<std::int64_t, K>& base, F&& f) {
    if (numel(shape) == 0) return;
    const RowLayout<K> L = make_row_layout<K>(shape, strides);
    const std::int64_t nd = std::int64_t(L.outer.size());
    const bool parallel = L.rows > 1 && L.rows * L.row_len >= kParallelGrain;
#pragma omp parallel for if (parallel) schedule(static)
    for (std::int64_t r = 0; r < L.rows; ++r) {
        std::array<std::int64_t, K> off = base;
        std::int64_t rem = r;
        for (std::int64_t d = nd - 1; d >= 0; --d) {
            const std::int64_t i = rem % L.outer[d];
            rem /= L.outer[d];
            for (std::size_t k = 0; k < K; ++k) off[k] += i * L.outer_strides[k][d];
        }
        f(off, L.row_len, L.row_stride);
    }
}

}  // namespace gs
