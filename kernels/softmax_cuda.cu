// Softmax on CUDA: one thread per row (a row = the elements along `dim` at a fixed outer and inner
// index), sums in double, in index order, exactly the CPU's traversal; the functors of softmax.h
// do the math. Neighbouring threads take neighbouring inner indices, so reads are coalesced when
// dim is not the last one.
#include "kernels/softmax.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/launch.h"

namespace gs::kernels::cuda {
namespace {

template <class T>
__global__ void softmax_kernel(const T* x, T* y, std::int64_t rows, std::int64_t D, std::int64_t st, bool log) {
    const std::int64_t step = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t r = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += step) {
        const std::int64_t b = SoftmaxRows::base(r, D, st);
        softmax_row(x + b, y + b, D, st, log);
    }
}

template <class T>
__global__ void softmax_backward_kernel(const T* y, const T* dy, T* dx, std::int64_t rows, std::int64_t D,
                                        std::int64_t st, bool log) {
    const std::int64_t step = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t r = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += step) {
        const std::int64_t b = SoftmaxRows::base(r, D, st);
        softmax_backward_row(y + b, dy + b, dx + b, D, st, log);
    }
}

}  // namespace

void softmax(const Tensor& x, std::int64_t dim, bool log, Tensor& y) {
    visit_float(x.dtype(), log ? "log_softmax" : "softmax", [&](auto tag) {
        using T = decltype(tag);
        if (x.numel() == 0) return;
        const SoftmaxRows rows(x, dim);
        const int device = x.device().index;
        CudaDeviceGuard guard(device);
        const std::int64_t n = rows.count();
        softmax_kernel<<<grid_size(n), kBlockSize, 0, cuda_stream(device)>>>(x.data<T>(), y.data<T>(), n, rows.D,
                                                                              rows.inner, log);
        GS_CUDA_CHECK(cudaGetLastError());
    });
}

void softmax_backward(const Tensor& y, const Tensor& dy, std::int64_t dim, bool log, Tensor& dx) {
    visit_float(y.dtype(), log ? "log_softmax_backward" : "softmax_backward", [&](auto tag) {
        using T = decltype(tag);
        if (y.numel() == 0) return;
        const SoftmaxRows rows(y, dim);
        const int device = y.device().index;
        CudaDeviceGuard guard(device);
        const std::int64_t n = rows.count();
        softmax_backward_kernel<<<grid_size(n), kBlockSize, 0, cuda_stream(device)>>>(
            y.data<T>(), dy.data<T>(), dx.data<T>(), n, rows.D, rows.inner, log);
        GS_CUDA_CHECK(cudaGetLastError());
    });
}

}  // namespace gs::kernels::cuda
