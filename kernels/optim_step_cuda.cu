// Optimizer steps on CUDA: each element updated by one call of the SgdStep / AdamStep functor, in a
// grid-stride loop; no formulas here.
#include "kernels/adam.h"
#include "kernels/sgd.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/launch.h"

namespace gs::kernels::cuda {
namespace {

template <class T>
__global__ void sgd_kernel(T* w, const T* g, T* v, std::int64_t n, SgdStep step) {
    const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) {
        T unused = 0;  // momentum 0: the functor neither reads nor writes v
        step(w[i], g[i], v ? v[i] : unused);
    }
}

template <class T>
__global__ void adam_kernel(T* w, const T* g, T* m, T* v, std::int64_t n, AdamStep step) {
    const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride)
        step(w[i], g[i], m[i], v[i]);
}

}  // namespace

void sgd_step(Tensor& w, const Tensor& g, Tensor& v, const SgdStep& step) {
    const Tensor gc = g.contiguous();
    const std::int64_t n = w.numel();
    if (n == 0) return;
    const int device = w.device().index;
    CudaDeviceGuard guard(device);
    visit_float(w.dtype(), "sgd_step", [&](auto tag) {
        using T = decltype(tag);
        sgd_kernel<<<grid_size(n), kBlockSize, 0, cuda_stream(device)>>>(
            w.data<T>(), gc.data<T>(), v.defined() ? v.data<T>() : nullptr, n, step);
        GS_CUDA_CHECK(cudaGetLastError());
    });
}

void adam_step(Tensor& w, const Tensor& g, Tensor& m, Tensor& v, const AdamStep& step) {
    const Tensor gc = g.contiguous();
    const std::int64_t n = w.numel();
    if (n == 0) return;
    const int device = w.device().index;
    CudaDeviceGuard guard(device);
    visit_float(w.dtype(), "adam_step", [&](auto tag) {
        using T = decltype(tag);
        adam_kernel<<<grid_size(n), kBlockSize, 0, cuda_stream(device)>>>(w.data<T>(), gc.data<T>(), m.data<T>(),
                                                                           v.data<T>(), n, step);
        GS_CUDA_CHECK(cudaGetLastError());
    });
}

}  // namespace gs::kernels::cuda
