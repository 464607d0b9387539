// Random fills on a CUDA device: a grid-stride loop over the draws of random_draw.h, so element i
// gets the same Philox block as on the CPU.
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/launch.h"
#include "tensor/random_draw.h"
#include "tensor/tensor.h"

namespace gs::detail {
namespace {

template <class T, class Draw>
__global__ void random_fill_kernel(T* out, std::int64_t n, Draw draw) {
    const std::int64_t step = std::int64_t(blockDim.x) * gridDim.x;
    for (std::int64_t i = std::int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step)
        out[i] = draw.template operator()<T>(i);
}

template <class Draw>
void launch(Tensor& t, const Draw& draw) {
    const std::int64_t n = t.numel();
    if (n == 0) return;
    const int device = t.device().index;
    CudaDeviceGuard guard(device);
    visit_dtype(t.dtype(), [&](auto tag) {
        using T = decltype(tag);
        random_fill_kernel<<<grid_size(n), kBlockSize, 0, cuda_stream(device)>>>(t.data<T>(), n, draw);
        GS_CUDA_CHECK(cudaGetLastError());
    });
}

}  // namespace

void cuda_random_fill(Tensor& t, const UniformDraw& draw) { launch(t, draw); }
void cuda_random_fill(Tensor& t, const NormalDraw& draw) { launch(t, draw); }
void cuda_random_fill(Tensor& t, const BernoulliDraw& draw) { launch(t, draw); }
void cuda_random_fill(Tensor& t, const RandintDraw& draw) { launch(t, draw); }

}  // namespace gs::detail
