// Pairwise squared distances and the RBF kernel on CUDA: out = x y^T by cuBLAS (straight into the
// output, as on the CPU), row norms by the reduction kernels, then one kernel that turns each dot
// product into a distance (and a kernel value) with the functors of rbf.h. With y == x each
// thread owns one pair (i > j): it reads the lower entry and writes both, so the result is
// exactly symmetric with the exact diagonal, like the CPU's.
#include "kernels/elementwise.h"
#include "kernels/gemm.h"
#include "kernels/rbf.h"
#include "kernels/reduce.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/launch.h"

namespace gs::kernels::cuda {
namespace {

using i64 = std::int64_t;

template <class T>
__global__ void finish_kernel(T* out, const T* nx, const T* ny, i64 N, i64 M, bool same, double gamma) {
    const SqDistFromGram sq_dist;
    const RbfFromSqDist rbf{gamma};
    const bool kernel = gamma >= 0.0;
    for (i64 e = i64(blockIdx.x) * blockDim.x + threadIdx.x; e < N * M; e += i64(blockDim.x) * gridDim.x) {
        const i64 i = e / M, j = e % M;
        if (!same) {
            const T d = sq_dist(nx[i], ny[j], out[e]);
            out[e] = kernel ? rbf(d) : d;
        } else if (j == i) {
            out[e] = kernel ? rbf(T(0)) : T(0);
        } else if (j < i) {
            const T d = sq_dist(nx[i], nx[j], out[e]);
            const T v = kernel ? rbf(d) : d;
            out[e] = v;
            out[j * M + i] = v;
        }
    }
}

}  // namespace

void rbf_kernel(const Tensor& x, const Tensor& y, bool same, double gamma, Tensor& out) {
    const i64 N = x.size(0), M = y.size(0), D = x.size(1);
    if (N == 0 || M == 0) return;
    const int device = x.device().index;
    const Tensor nx = kernels::sum(kernels::binary(BinaryOp::mul, x, x), {1});
    const Tensor ny = same ? nx : kernels::sum(kernels::binary(BinaryOp::mul, y, y), {1});
    CudaDeviceGuard guard(device);
    visit_float(x.dtype(), "rbf_kernel", [&](auto tag) {
        using T = decltype(tag);
        gemm<T>(device, false, true, N, M, D, T(1), x.data<T>(), std::max<i64>(D, 1), y.data<T>(),
                std::max<i64>(D, 1), T(0), out.data<T>(), M);
        finish_kernel<T><<<grid_size(N * M), kBlockSize, 0, cuda_stream(device)>>>(out.data<T>(), nx.data<T>(),
                                                                                   ny.data<T>(), N, M, same, gamma);
    });
    GS_CUDA_CHECK(cudaGetLastError());
}

}  // namespace gs::kernels::cuda
