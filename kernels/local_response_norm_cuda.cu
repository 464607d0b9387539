// Local response normalization on CUDA: one thread per element, summing its channel window in
// the CPU's order with the functors of local_response_norm.h. The backward recomputes each
// window term (s^-beta of `size` neighbours) instead of staging them: a few more flops, no
// scratch plane and no second launch.
#include "kernels/local_response_norm.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/launch.h"

namespace gs::kernels::cuda {
namespace {

using i64 = std::int64_t;

struct Dims {
    i64 N, C, L;
};

Dims dims_of(const Tensor& x) {
    const i64 N = x.size(0), C = x.size(1);
    return {N, C, N * C == 0 ? 0 : x.numel() / (N * C)};
}

#define GS_GRID_STRIDE(i, n) \
    for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += i64(blockDim.x) * gridDim.x)

template <class T>
__global__ void forward_kernel(const T* X, T* Y, T* S, Dims d, LrnParams p) {
    const LrnInversePower pow_of;
    const T a = T(p.alpha / double(p.size)), k = T(p.k), beta = T(p.beta);
    GS_GRID_STRIDE(e, d.N * d.C * d.L) {
        const i64 l = e % d.L, c = (e / d.L) % d.C, n = e / (d.L * d.C);
        i64 j0, j1;
        p.window(c, d.C, j0, j1);
        T acc = T(0);
        for (i64 j = j0; j <= j1; ++j) {
            const T v = X[(n * d.C + j) * d.L + l];
            acc += v * v;
        }
        const T s = k + a * acc;
        S[e] = s;
        Y[e] = X[e] * pow_of(s, beta);
    }
}

template <class T>
__global__ void backward_kernel(const T* DY, const T* X, const T* S, T* DX, Dims d, LrnParams p) {
    const LrnInversePower pow_of;
    const LrnBackwardTerm term;
    const T beta = T(p.beta), coef = T(2.0 * p.alpha * p.beta / double(p.size));
    GS_GRID_STRIDE(e, d.N * d.C * d.L) {
        const i64 l = e % d.L, j = (e / d.L) % d.C, n = e / (d.L * d.C);
        i64 c0, c1;
        p.covering(j, d.C, c0, c1);
        T acc = T(0);
        for (i64 c = c0; c <= c1; ++c) {
            const i64 o = (n * d.C + c) * d.L + l;
            acc += term(DY[o], X[o], S[o], pow_of(S[o], beta));
        }
        DX[e] = DY[e] * pow_of(S[e], beta) - coef * X[e] * acc;
    }
}

#undef GS_GRID_STRIDE

template <class Launch>
void launch_on(const Tensor& t, Launch&& launch) {
    if (t.numel() == 0) return;
    const int device = t.device().index;
    CudaDeviceGuard guard(device);
    launch(grid_size(t.numel()), cuda_stream(device));
    GS_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void local_response_norm_forward(const Tensor& x, const LrnParams& p, Tensor& y, Tensor& scale) {
    visit_float(x.dtype(), "local_response_norm_forward", [&](auto tag) {
        using T = decltype(tag);
        launch_on(x, [&](unsigned grid, cudaStream_t s) {
            forward_kernel<<<grid, kBlockSize, 0, s>>>(x.data<T>(), y.data<T>(), scale.data<T>(), dims_of(x), p);
        });
    });
}

void local_response_norm_backward(const Tensor& dy, const Tensor& x, const Tensor& scale, const LrnParams& p,
                                  Tensor& dx) {
    visit_float(x.dtype(), "local_response_norm_backward", [&](auto tag) {
        using T = decltype(tag);
        launch_on(x, [&](unsigned grid, cudaStream_t s) {
            backward_kernel<<<grid, kBlockSize, 0, s>>>(dy.data<T>(), x.data<T>(), scale.data<T>(), dx.data<T>(),
                                                        dims_of(x), p);
        });
    });
}

}  // namespace gs::kernels::cuda
