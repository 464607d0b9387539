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
        const MaxNan max_nan;
        T m = x[b];
        for (std::int64_t j = 1; j < D; ++j) m = max_nan(m, x[b + j * st]);
        const SoftmaxShiftedExp shifted_exp;
        double sum = 0;
        if (log) {
            for (std::int64_t j = 0; j < D; ++j) sum += double(shifted_exp(x[b + j * st], m));
            const LogSoftmaxForward f;
            const T log_sum = T(::log(sum));
            for (std::int64_t j = 0; j < D; ++j) y[b + j * st] = f(x[b + j * st], m, log_sum);
        } else {
            for (std::int64_t j = 0; j < D; ++j) {
                const T e = shifted_exp(x[b + j * st], m);
                y[b + j * st] = e;
                sum += double(e);
            }
            const SoftmaxNormalize normalize;
            const T inv = T(1.0 / sum);
            for (std::int64_t j = 0; j < D; ++j) y[b + j * st] = normalize(y[b + j * st], inv);
        }
    }
}

template <class T>
__global__ void softmax_backward_kernel(const T* y, const T* dy, T* dx, std::int64_t rows, std::int64_t D,
                                        std::int64_t st, bool log) {
    const std::int64_t step = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t r = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; r < rows; r += step) {
        const std::int64_t b = SoftmaxRows::base(r, D, st);
        double acc = 0;
        if (log) {
            for (std::int64_t j = 0; j < D; ++j) acc += double(dy[b + j * st]);
            const LogSoftmaxBackward f;
            for (std::int64_t j = 0; j < D; ++j) dx[b + j * st] = f(y[b + j * st], dy[b + j * st], T(acc));
        } else {
            for (std::int64_t j = 0; j < D; ++j) acc += double(dy[b + j * st]) * double(y[b + j * st]);
            const SoftmaxBackward f;
            for (std::int64_t j = 0; j < D; ++j) dx[b + j * st] = f(y[b + j * st], dy[b + j * st], T(acc));
        }
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
