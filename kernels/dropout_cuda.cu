// Dropout on CUDA: the mask is a grid-stride loop over DropoutKeep (element i draws the Philox
// block at counter offset + i, as on the CPU, so both devices draw the same mask), applied with
// the elementwise map over DropoutApply.
#include "kernels/dropout.h"
#include "kernels/map_cuda.cuh"

namespace gs::kernels::cuda {
namespace {

__global__ void dropout_mask_kernel(DropoutKeep keep, std::uint8_t* mask, std::int64_t n) {
    const std::int64_t stride = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += stride) mask[i] = keep(i);
}

}  // namespace

void dropout_mask(const DropoutKeep& keep, Tensor& mask) {
    const std::int64_t n = mask.numel();
    if (n == 0) return;
    const int device = mask.device().index;
    CudaDeviceGuard guard(device);
    dropout_mask_kernel<<<grid_size(n), kBlockSize, 0, cuda_stream(device)>>>(keep, mask.data<std::uint8_t>(), n);
    GS_CUDA_CHECK(cudaGetLastError());
}

void dropout_apply(const Tensor& x, const Tensor& mask, double p, Tensor& y) {
    visit_float(x.dtype(), "dropout", [&](auto tag) {
        using T = decltype(tag);
        // The scale rides along as a one-element operand (step 0), like a broadcast scalar.
        const Tensor scale = Tensor::full({}, 1.0 / (1.0 - p), x.dtype(), x.device());
        map<T, T, std::uint8_t, T>(y, DropoutApply{}, {&x, &mask, &scale});
    });
}

}  // namespace gs::kernels::cuda
