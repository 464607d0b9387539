// CUDA pooling loops. Each output (forward) or input-gradient element (backward) is written by one
// thread that adds in the CPU's order, so the results equal the CPU's bit for bit; the functors and
// the window geometry of pool.h are shared with pool_cpu.cpp.
#include <cmath>

#include "kernels/pool.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/launch.h"

namespace gs::kernels::cuda {
namespace {

using i64 = std::int64_t;

struct PoolDims {
    i64 planes, H, W, OH, OW;
};

PoolDims dims_of(const Shape& xs, const Shape& ys) { return {xs[0] * xs[1], xs[2], xs[3], ys[2], ys[3]}; }

#define GS_GRID_STRIDE(i, n) \
    for (i64 i = i64(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); i += i64(blockDim.x) * gridDim.x)

// Thread per output e = p * OH*OW + o.
template <class T>
__global__ void max_forward_kernel(const T* X, T* Y, i64* I, PoolDims d, Pool2dGeometry g) {
    const MaxPoolStep step;
    GS_GRID_STRIDE(e, d.planes * d.OH * d.OW) {
        const i64 p = e / (d.OH * d.OW), o = e % (d.OH * d.OW);
        const auto w = g.window(o / d.OW, o % d.OW, d.H, d.W);
        const T* in = X + p * d.H * d.W;
        T best = -T(INFINITY);
        i64 best_i = w.h0 * d.W + w.w0;  // a real pixel: valid even if all are -inf
        for (i64 ih = w.h0; ih < w.h1; ++ih)
            for (i64 iw = w.w0; iw < w.w1; ++iw) step(in[ih * d.W + iw], ih * d.W + iw, best, best_i);
        Y[e] = best;
        I[e] = best_i;
    }
}

// Thread per plane: zero it, then add every output's gradient at its index, in output order.
template <class T>
__global__ void max_backward_kernel(const T* DY, const i64* I, T* DX, PoolDims d) {
    GS_GRID_STRIDE(p, d.planes) {
        T* out = DX + p * d.H * d.W;
        for (i64 i = 0; i < d.H * d.W; ++i) out[i] = T(0);
        const i64 o0 = p * d.OH * d.OW;
        for (i64 o = 0; o < d.OH * d.OW; ++o) out[I[o0 + o]] += DY[o0 + o];
    }
}

// Thread per input pixel: the gradients of the covering windows that chose it, in output
// (row-major) order, which is the order in which the per-plane loop above and the CPU add them.
template <class T>
__global__ void max_backward_gather_kernel(const T* DY, const i64* I, T* DX, PoolDims d, Pool2dGeometry g) {
    GS_GRID_STRIDE(e, d.planes * d.H * d.W) {
        const i64 p = e / (d.H * d.W), i = e % (d.H * d.W);
        i64 oh0, oh1, ow0, ow1;
        g.covering_h(i / d.W, d.OH, oh0, oh1);
        g.covering_w(i % d.W, d.OW, ow0, ow1);
        const T* dout = DY + p * d.OH * d.OW;
        const i64* chosen = I + p * d.OH * d.OW;
        T acc = T(0);
        for (i64 oh = oh0; oh < oh1; ++oh)
            for (i64 ow = ow0; ow < ow1; ++ow)
                if (chosen[oh * d.OW + ow] == i) acc += dout[oh * d.OW + ow];
        DX[e] = acc;
    }
}

template <class T>
__global__ void avg_forward_kernel(const T* X, T* Y, PoolDims d, Pool2dGeometry g, bool include_pad) {
    const AvgPoolDivisor divisor;
    GS_GRID_STRIDE(e, d.planes * d.OH * d.OW) {
        const i64 p = e / (d.OH * d.OW), o = e % (d.OH * d.OW);
        const auto w = g.window(o / d.OW, o % d.OW, d.H, d.W);
        const T* in = X + p * d.H * d.W;
        T s = T(0);
        for (i64 ih = w.h0; ih < w.h1; ++ih)
            for (i64 iw = w.w0; iw < w.w1; ++iw) s += in[ih * d.W + iw];
        Y[e] = s / T(divisor(g, include_pad, w.h0, w.h1, w.w0, w.w1));
    }
}

// Thread per input pixel: the shares of the windows covering it, in output (row-major) order.
template <class T>
__global__ void avg_backward_kernel(const T* DY, T* DX, PoolDims d, Pool2dGeometry g, bool include_pad) {
    const AvgPoolDivisor divisor;
    GS_GRID_STRIDE(e, d.planes * d.H * d.W) {
        const i64 p = e / (d.H * d.W), i = e % (d.H * d.W);
        const i64 ih = i / d.W, iw = i % d.W;
        i64 oh0, oh1, ow0, ow1;
        g.covering_h(ih, d.OH, oh0, oh1);
        g.covering_w(iw, d.OW, ow0, ow1);
        const T* dout = DY + p * d.OH * d.OW;
        T acc = T(0);
        for (i64 oh = oh0; oh < oh1; ++oh)
            for (i64 ow = ow0; ow < ow1; ++ow) {
                const auto w = g.window(oh, ow, d.H, d.W);
                acc += dout[oh * d.OW + ow] / T(divisor(g, include_pad, w.h0, w.h1, w.w0, w.w1));
            }
        DX[e] = acc;
    }
}

#undef GS_GRID_STRIDE

template <class Launch>
void launch_on(const Tensor& t, i64 n, Launch&& launch) {
    if (n == 0) return;
    const int device = t.device().index;
    CudaDeviceGuard guard(device);
    launch(grid_size(n), cuda_stream(device));
    GS_CUDA_CHECK(cudaGetLastError());
}

}  // namespace

void max_pool2d_forward(const Tensor& x, const Pool2dGeometry& g, Tensor& y, Tensor& indices) {
    visit_float(x.dtype(), "max_pool2d_forward", [&](auto tag) {
        using T = decltype(tag);
        const PoolDims d = dims_of(x.shape(), y.shape());
        launch_on(y, y.numel(), [&](unsigned grid, cudaStream_t s) {
            max_forward_kernel<<<grid, kBlockSize, 0, s>>>(x.data<T>(), y.data<T>(), indices.data<i64>(), d, g);
        });
    });
}

void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx) {
    visit_float(dy.dtype(), "max_pool2d_backward", [&](auto tag) {
        using T = decltype(tag);
        const PoolDims d = dims_of(dx.shape(), dy.shape());
        launch_on(dx, d.planes, [&](unsigned grid, cudaStream_t s) {
            max_backward_kernel<<<grid, kBlockSize, 0, s>>>(dy.data<T>(), indices.data<i64>(), dx.data<T>(), d);
        });
    });
}

void max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Pool2dGeometry& g, Tensor& dx) {
    visit_float(dy.dtype(), "max_pool2d_backward", [&](auto tag) {
        using T = decltype(tag);
        const PoolDims d = dims_of(dx.shape(), dy.shape());
        launch_on(dx, dx.numel(), [&](unsigned grid, cudaStream_t s) {
            max_backward_gather_kernel<<<grid, kBlockSize, 0, s>>>(dy.data<T>(), indices.data<i64>(), dx.data<T>(), d, g);
        });
    });
}

void avg_pool2d_forward(const Tensor& x, const Pool2dGeometry& g, bool count_include_pad, Tensor& y) {
    visit_float(x.dtype(), "avg_pool2d_forward", [&](auto tag) {
        using T = decltype(tag);
        const PoolDims d = dims_of(x.shape(), y.shape());
        launch_on(y, y.numel(), [&](unsigned grid, cudaStream_t s) {
            avg_forward_kernel<<<grid, kBlockSize, 0, s>>>(x.data<T>(), y.data<T>(), d, g, count_include_pad);
        });
    });
}

void avg_pool2d_backward(const Tensor& dy, const Pool2dGeometry& g, bool count_include_pad, Tensor& dx) {
    visit_float(dy.dtype(), "avg_pool2d_backward", [&](auto tag) {
        using T = decltype(tag);
        const PoolDims d = dims_of(dx.shape(), dy.shape());
        launch_on(dx, dx.numel(), [&](unsigned grid, cudaStream_t s) {
            avg_backward_kernel<<<grid, kBlockSize, 0, s>>>(dy.data<T>(), dx.data<T>(), d, g, count_include_pad);
        });
    });
}

}  // namespace gs::kernels::cuda
