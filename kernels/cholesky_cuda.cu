// The one CUDA kernel of the GPU Cholesky: clearing the strict upper triangle that cuSOLVER leaves
// holding the input (cholesky_cusolver.cpp), so L is lower triangular as on the CPU.
#include "kernels/cholesky.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/launch.h"

namespace gs::kernels::cuda {
namespace {

using i64 = std::int64_t;

template <class T>
__global__ void zero_strict_upper_kernel(T* a, i64 n) {
    for (i64 e = i64(blockIdx.x) * blockDim.x + threadIdx.x; e < n * n; e += i64(blockDim.x) * gridDim.x)
        if (e % n > e / n) a[e] = T(0);
}

}  // namespace

void zero_strict_upper(Tensor& a) {
    const i64 n = a.size(0);
    if (n == 0) return;
    const int device = a.device().index;
    CudaDeviceGuard guard(device);
    visit_float(a.dtype(), "cholesky", [&](auto tag) {
        using T = decltype(tag);
        zero_strict_upper_kernel<T><<<grid_size(n * n), kBlockSize, 0, cuda_stream(device)>>>(a.data<T>(), n);
    });
    GS_CUDA_CHECK(cudaGetLastError());
}

}  // namespace gs::kernels::cuda
