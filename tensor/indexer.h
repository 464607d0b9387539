#pragma once
// StridedIndexer: element offsets of K strided operands that share one shape, from a flat element
// index. The CUDA kernels' counterpart of for_each_row (tensor/strided.h): one thread per element
// instead of one loop per row, with the same dim merging, so a kernel can walk strided and
// broadcast (stride 0) operands. Built on the host, passed to kernels by value.
#include <array>
#include <cstdint>

#include "tensor/error.h"
#include "tensor/strided.h"

#if defined(__CUDACC__)
#define GS_INDEXER_HD __host__ __device__
#else
#define GS_INDEXER_HD
#endif

namespace gs {

template <int K>
struct StridedIndexer {
    static constexpr int kMaxDims = 16;
    int ndim = 0;                          // after merging; 0 for a single element
    std::int64_t sizes[kMaxDims] = {};     // innermost last
    std::int64_t strides[kMaxDims][K] = {};
    std::int64_t base[K] = {};             // element offset of element 0 in each operand

    // off[k] = the element offset of flat (row-major) element i in operand k.
    GS_INDEXER_HD void offsets(std::int64_t i, std::int64_t (&off)[K]) const {
        for (int k = 0; k < K; ++k) off[k] = base[k];
        for (int d = ndim - 1; d >= 0; --d) {
            const std::int64_t n = sizes[d];
            const std::int64_t j = i % n;
            i /= n;
            for (int k = 0; k < K; ++k) off[k] += j * strides[d][k];
        }
    }
};

// The indexer of K operands of `shape` with the given strides and base offsets (dims that are
// contiguous in every operand merged, size-1 dims dropped). Throws when more than kMaxDims
// dims remain after merging.
template <int K>
StridedIndexer<K> make_strided_indexer(const Shape& shape, const std::array<Strides, std::size_t(K)>& strides,
                                       const std::array<std::int64_t, std::size_t(K)>& base) {
    StridedIndexer<K> ix;
    for (int k = 0; k < K; ++k) ix.base[k] = base[std::size_t(k)];
    if (numel(shape) <= 1) return ix;
    const RowLayout<std::size_t(K)> L = make_row_layout<std::size_t(K)>(shape, strides);
    const std::size_t outer = L.outer.size();
    GS_CHECK(outer + 1 <= std::size_t(StridedIndexer<K>::kMaxDims), "strided indexer: shape ", shape_str(shape),
             " has more than ", StridedIndexer<K>::kMaxDims, " dims that cannot be merged");
    for (std::size_t d = 0; d < outer; ++d) {
        ix.sizes[d] = L.outer[d];
        for (int k = 0; k < K; ++k) ix.strides[d][k] = L.outer_strides[std::size_t(k)][d];
    }
    ix.sizes[outer] = L.row_len;
    for (int k = 0; k < K; ++k) ix.strides[outer][k] = L.row_stride[std::size_t(k)];
    ix.ndim = int(outer + 1);
    return ix;
}

}  // namespace gs
