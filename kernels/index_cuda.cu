// CUDA loops for kernels/index.h. As on the CPU, every output element is written by exactly one
// thread, and the adjoints add each element's contributions in index order, so results are
// deterministic (no atomics).
#include "kernels/index.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/indexer.h"
#include "tensor/launch.h"

namespace gs::kernels::cuda {
namespace {

#define GS_GRID_STRIDE(i, n)                                                           \
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
         i += std::int64_t(blockDim.x) * gridDim.x)

// out[o, k, i] = x[o, idx[k], i]; thread per output element.
template <class T>
__global__ void index_select_kernel(const T* x, const std::int64_t* idx, T* out, std::int64_t O, std::int64_t N,
                                    std::int64_t K, std::int64_t I) {
    GS_GRID_STRIDE(e, O * K * I) {
        const std::int64_t i = e % I, k = (e / I) % K, o = e / (I * K);
        out[e] = x[(o * N + idx[k]) * I + i];
    }
}

// Thread per (o, i) column: owns out[o, :, i], zeroes it, then adds src[o, k, i] at idx[k] for
// k = 0..K-1 in order.
template <class T>
__global__ void index_add_kernel(const T* src, const std::int64_t* idx, T* out, std::int64_t O, std::int64_t N,
                                 std::int64_t K, std::int64_t I) {
    GS_GRID_STRIDE(c, O * I) {
        const std::int64_t o = c / I, i = c % I;
        for (std::int64_t n = 0; n < N; ++n) out[(o * N + n) * I + i] = T(0);
        for (std::int64_t k = 0; k < K; ++k) out[(o * N + idx[k]) * I + i] += src[(o * K + k) * I + i];
    }
}

// Thread per index element p: operand 0 is the contiguous index, operand 1 is x with the `dim`
// stride zeroed (the index supplies that coordinate).
template <class T>
__global__ void gather_kernel(const T* xbase, const std::int64_t* idx, T* out, std::int64_t n,
                              StridedIndexer<2> ix, std::int64_t xstep) {
    GS_GRID_STRIDE(e, n) {
        std::int64_t off[2];
        ix.offsets(e, off);
        out[off[0]] = xbase[off[1] + idx[off[0]] * xstep];
    }
}

// Thread per line (all positions along `dim` at fixed other coordinates): two lines never write
// the same output element; a line adds in index order. Operands of the line indexer: the index
// (contiguous), src, out, over the index shape with `dim` collapsed to 1.
template <class T>
__global__ void scatter_add_kernel(const T* sbase, const std::int64_t* idx, T* out, std::int64_t lines,
                                   StridedIndexer<3> ix, std::int64_t len, std::int64_t istep, std::int64_t sstep,
                                   std::int64_t ostep) {
    GS_GRID_STRIDE(line, lines) {
        std::int64_t off[3];
        ix.offsets(line, off);
        for (std::int64_t j = 0; j < len; ++j) out[off[2] + idx[off[0] + j * istep] * ostep] += sbase[off[1] + j * sstep];
    }
}

#undef GS_GRID_STRIDE

template <class Launch>
void launch_on(const Tensor& t, std::int64_t n, Launch&& launch) {
    if (n == 0) return;
    const int device = t.device().index;
    CudaDeviceGuard guard(device);
    launch(grid_size(n), cuda_stream(device));
    GS_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void index_select(const Tensor& x, std::int64_t O, std::int64_t N, std::int64_t I, const Tensor& index, Tensor& out) {
    const std::int64_t K = index.numel();
    visit_dtype(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        launch_on(out, O * K * I, [&](unsigned grid, cudaStream_t s) {
            index_select_kernel<<<grid, kBlockSize, 0, s>>>(x.data<T>(), index.data<std::int64_t>(), out.data<T>(), O, N,
                                                            K, I);
        });
    });
}

void index_add(const Tensor& src, std::int64_t O, std::int64_t N, std::int64_t I, const Tensor& index, Tensor& out) {
    const std::int64_t K = index.numel();
    visit_dtype(src.dtype(), [&](auto tag) {
        using T = decltype(tag);
        launch_on(out, O * I, [&](unsigned grid, cudaStream_t s) {
            index_add_kernel<<<grid, kBlockSize, 0, s>>>(src.data<T>(), index.data<std::int64_t>(), out.data<T>(), O, N,
                                                         K, I);
        });
    });
}

void gather(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out) {
    Strides xs = x.strides();
    const std::int64_t xstep = xs[std::size_t(dim)];
    xs[std::size_t(dim)] = 0;
    const auto ix = make_strided_indexer<2>(index.shape(), {contiguous_strides(index.shape()), xs}, {0, x.offset()});
    visit_dtype(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        launch_on(out, index.numel(), [&](unsigned grid, cudaStream_t s) {
            gather_kernel<<<grid, kBlockSize, 0, s>>>(x.data<T>() - x.offset(), index.data<std::int64_t>(), out.data<T>(),
                                                      index.numel(), ix, xstep);
        });
    });
}

void scatter_add(const Tensor& src, std::int64_t dim, const Tensor& index, Tensor& out) {
    const auto d = std::size_t(dim);
    const std::int64_t len = index.size(dim);
    Shape lines_shape = index.shape();
    lines_shape[d] = 1;
    const Strides istr = contiguous_strides(index.shape());
    const auto ix = make_strided_indexer<3>(lines_shape, {istr, src.strides(), out.strides()}, {0, src.offset(), 0});
    const std::int64_t lines = len == 0 ? 0 : index.numel() / len;
    out.zero_();  // every element is assigned: zero, then the lines add into their own elements
    visit_dtype(src.dtype(), [&](auto tag) {
        using T = decltype(tag);
        launch_on(out, lines, [&](unsigned grid, cudaStream_t s) {
            scatter_add_kernel<<<grid, kBlockSize, 0, s>>>(src.data<T>() - src.offset(), index.data<std::int64_t>(),
                                                           out.data<T>(), lines, ix, len, istr[d], src.stride(dim),
                                                           out.stride(dim));
        });
    });
}

}  // namespace gs::kernels::cuda
