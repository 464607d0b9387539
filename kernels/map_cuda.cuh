#pragma once
// Generic CUDA grid-stride loops that apply an elementwise functor to N strided, broadcast operands
// and assign a contiguous output: the device twin of kernels/map_cpu.h, over the very same functors.
// No formulas live here.
//
//   map<Out, In...>(out, f, {&in_0, ..., &in_{N-1}})   out[i] = f(in_0[i], ..., in_{N-1}[i])
//
// Each input is broadcast to out's shape (numpy rules, via Tensor::expand, so a broadcast dim has
// stride 0) and may be any strided view. `out` must be contiguous, must not alias an input, and
// all tensors must be on one CUDA device (the entry points check it). The work is issued to that
// device's gradscope stream and not waited for.
#include <array>
#include <cstdint>
#include <tuple>
#include <utility>

#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/indexer.h"
#include "tensor/launch.h"
#include "tensor/tensor.h"

namespace gs::kernels::cuda {

namespace detail {

// The input pointers, passed to kernels by value; In... are their element types. (A __global__
// template may have only one parameter pack, so the kernels take this struct as one type.)
template <class... In>
struct Inputs {
    static constexpr int N = int(sizeof...(In));
    const void* p[sizeof...(In)];

    // f(in_0[idx[0]], ..., in_{N-1}[idx[N-1]]).
    template <class F>
    __device__ __forceinline__ auto call(const F& f, const std::int64_t* idx) const {
        return call_impl(f, idx, std::index_sequence_for<In...>{});
    }
    template <class F, std::size_t... I>
    __device__ __forceinline__ auto call_impl(const F& f, const std::int64_t* idx, std::index_sequence<I...>) const {
        return f(static_cast<const In*>(p[I])[idx[I]]...);
    }
};

// Flat path: input k is read at i * step[k] (step 1: contiguous of out's shape; 0: one element).
// The steps travel in an indexer's base array, plain kernel-argument data.
template <class Out, class F, class Ins>
__global__ void map_flat_kernel(Out* out, std::int64_t n, F f, Ins in, StridedIndexer<Ins::N> step) {
    const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        std::int64_t idx[Ins::N];
        for (int k = 0; k < Ins::N; ++k) idx[k] = i * step.base[k];
        out[i] = in.call(f, idx);
    }
}

// General path: the offsets of out (operand 0) and of every input from one strided indexer whose
// bases are relative to each tensor's storage.
template <class Out, class F, class Ins>
__global__ void map_strided_kernel(Out* out, std::int64_t n, F f, Ins in, StridedIndexer<1 + Ins::N> ix) {
    const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        std::int64_t off[1 + Ins::N];
        ix.offsets(i, off);
        out[off[0]] = in.call(f, off + 1);
    }
}

template <class Out, class... In, class F, std::size_t... I>
void map_impl(Tensor& out, F f, const std::array<const Tensor*, sizeof...(In)>& in, std::index_sequence<I...>) {
    constexpr int N = int(sizeof...(In));
    const std::int64_t n = out.numel();
    if (n == 0) return;
    const int device = out.device().index;
    CudaDeviceGuard guard(device);
    cudaStream_t stream = cuda_stream(device);
    Out* dst = out.data<Out>();

    // Fast path, as on the CPU: every input contiguous with out's shape (step 1) or one element (step 0).
    bool flat = true;
    StridedIndexer<N> step;
    for (int k = 0; k < N; ++k) {
        if (in[std::size_t(k)]->numel() == 1) step.base[k] = 0;
        else if (in[std::size_t(k)]->shape() == out.shape() && in[std::size_t(k)]->is_contiguous()) step.base[k] = 1;
        else flat = false;
    }
    if (flat) {
        const Inputs<In...> p{{static_cast<const void*>(in[I]->template data<In>())...}};
        map_flat_kernel<<<grid_size(n), kBlockSize, 0, stream>>>(dst, n, f, p, step);
        GS_CUDA_CHECK(cudaGetLastError());
        return;
    }

    const std::array<Tensor, sizeof...(In)> ex{in[I]->expand(out.shape())...};
    // Storage bases, so that the indexer's offsets (which include each view's own offset) index them.
    const Inputs<In...> p{{static_cast<const void*>(ex[I].template data<In>() - ex[I].offset())...}};
    const auto ix = make_strided_indexer<1 + N>(out.shape(), {out.strides(), ex[I].strides()...},
                                                {std::int64_t(0), ex[I].offset()...});
    map_strided_kernel<<<grid_size(n), kBlockSize, 0, stream>>>(dst, n, f, p, ix);
    GS_CUDA_CHECK(cudaGetLastError());
}

}  // namespace detail

// out (contiguous; its shape is the broadcast shape the inputs are expanded to) = f(in...).
template <class Out, class... In, class F>
void map(Tensor& out, F f, const std::array<const Tensor*, sizeof...(In)>& in) {
    detail::map_impl<Out, In...>(out, f, in, std::index_sequence_for<In...>{});
}

}  // namespace gs::kernels::cuda
