// CPU loops for kernels/index.h. Parallel loops are partitioned by output element, so the
// adjoints (index_add, scatter_add) add each element's contributions in index order on one thread.
#include <algorithm>
#include <cstring>

#include "kernels/index.h"
#include "tensor/strided.h"

namespace gs::kernels::cpu {

namespace {

// Inner elements processed per index_add task.
constexpr std::int64_t kTile = 256;

// Calls f(index_offset, other_offset) for every line of `ishape` along `dim` (all positions
// sharing the coordinates off `dim`), where index_offset is the line's start in the contiguous
// index and other_offset the offset in the other operand (strides `ostr`, offset `ooff`) of the
// same coordinates with the `dim` coordinate left out. Lines run in parallel.
template <class F>
void for_each_line(const Shape& ishape, std::int64_t dim, const Strides& ostr, std::int64_t ooff, F f) {
    const std::int64_t nd = std::int64_t(ishape.size());
    const Strides istr = contiguous_strides(ishape);
    const std::int64_t len = ishape[std::size_t(dim)];
    const std::int64_t lines = len == 0 ? 0 : numel(ishape) / len;
#pragma omp parallel for if (lines * len >= kParallelGrain) schedule(static)
    for (std::int64_t line = 0; line < lines; ++line) {
        std::int64_t rem = line, ioff = 0, off = ooff;
        for (std::int64_t d = nd - 1; d >= 0; --d) {
            if (d == dim) continue;
            const std::int64_t n = ishape[std::size_t(d)];
            const std::int64_t c = rem % n;
            rem /= n;
            ioff += c * istr[std::size_t(d)];
            off += c * ostr[std::size_t(d)];
        }
        f(ioff, off);
    }
}

}  // namespace

void index_select(const Tensor& x, std::int64_t O, std::int64_t N, std::int64_t I, const Tensor& index, Tensor& out) {
    const std::int64_t K = index.numel();
    const std::int64_t* idx = index.data<std::int64_t>();
    visit_dtype(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* src = x.data<T>();
        T* dst = out.data<T>();
#pragma omp parallel for if (O * K * I >= kParallelGrain) schedule(static)
        for (std::int64_t row = 0; row < O * K; ++row) {
            const std::int64_t o = row / K, k = row % K;
            std::memcpy(dst + row * I, src + (o * N + idx[k]) * I, std::size_t(I) * sizeof(T));
        }
    });
}

void index_add(const Tensor& src, std::int64_t O, std::int64_t N, std::int64_t I, const Tensor& index, Tensor& out) {
    const std::int64_t K = index.numel();
    const std::int64_t* idx = index.data<std::int64_t>();
    visit_dtype(src.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* s = src.data<T>();
        T* dst = out.data<T>();
        const std::int64_t tiles = (I + kTile - 1) / kTile;
        // Task (o, tile) owns out[o, :, tile]: every element it writes belongs to it alone.
#pragma omp parallel for if (O * std::max(N, K) * I >= kParallelGrain) schedule(static)
        for (std::int64_t task = 0; task < O * tiles; ++task) {
            const std::int64_t o = task / tiles;
            const std::int64_t i0 = (task % tiles) * kTile;
            const std::int64_t len = std::min(kTile, I - i0);
            for (std::int64_t n = 0; n < N; ++n) std::fill_n(dst + (o * N + n) * I + i0, len, T(0));
            for (std::int64_t k = 0; k < K; ++k) {
                T* d = dst + (o * N + idx[k]) * I + i0;
                const T* p = s + (o * K + k) * I + i0;
                for (std::int64_t j = 0; j < len; ++j) d[j] += p[j];
            }
        }
    });
}

void gather(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) {
    const std::int64_t* idx = index.data<std::int64_t>();
    const std::int64_t len = index.size(dim);
    const std::int64_t istep = contiguous_strides(index.shape())[std::size_t(dim)];
    const std::int64_t xstep = x.stride(dim);
    visit_dtype(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* base = x.data<T>() - x.offset();
        T* dst = out.data<T>();
        for_each_line(index.shape(), dim, x.strides(), x.offset(), [&](std::int64_t ioff, std::int64_t xoff) {
            for (std::int64_t j = 0; j < len; ++j) {
                const std::int64_t p = ioff + j * istep;
                dst[p] = base[xoff + idx[p] * xstep];
            }
        });
    });
}

void scatter_add(const Tensor& src, std::int64_t dim, const Tensor& index, Tensor& out) {
    const std::int64_t* idx = index.data<std::int64_t>();
    const std::int64_t len = index.size(dim);
    const std::int64_t istep = contiguous_strides(index.shape())[std::size_t(dim)];
    const std::int64_t sstep = src.stride(dim);
    const std::int64_t ostep = out.stride(dim);
    visit_dtype(src.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* sbase = src.data<T>() - src.offset();
        T* dst = out.data<T>();
        std::fill_n(dst, out.numel(), T(0));
        // A line is all positions along `dim` with fixed other coordinates; two lines never write
        // the same output element, so lines run in parallel and each adds in index order.
        const Strides& ostr = out.strides();
        const Strides& sstr = src.strides();
        const std::int64_t nd = index.dim();
        const Strides istr = contiguous_strides(index.shape());
        for_each_line(index.shape(), dim, sstr, src.offset(), [&](std::int64_t ioff, std::int64_t soff) {
            // Recover the out offset of this line from the index offset (index is contiguous).
            std::int64_t rem = ioff, ooff = 0;
            for (std::int64_t d = 0; d < nd; ++d) {
                const std::int64_t c = rem / istr[std::size_t(d)];
                rem %= istr[std::size_t(d)];
                if (d != dim) ooff += c * ostr[std::size_t(d)];
            }
            for (std::int64_t j = 0; j < len; ++j) {
                const std::int64_t p = ioff + j * istep;
                dst[ooff + idx[p] * ostep] += sbase[soff + j * sstep];
            }
        });
    });
}

}  // namespace gs::kernels::cpu
