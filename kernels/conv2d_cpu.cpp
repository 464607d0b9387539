// CPU convolution by im2col + gemm.
//
// For image n and group g (Cg = C/groups input channels, Kg = K/groups filters):
//   col   (Cg*R*S, OH*OW): col[(c*R + r)*S + s][oh*OW + ow] = x[n, g*Cg + c, in_h(oh, r), in_w(ow, s)] (0 in padding)
//   y[n, g*Kg:(g+1)*Kg]  (Kg, OH*OW)     = w_g (Kg, Cg*R*S) * col
//   dcol                 (Cg*R*S, OH*OW) = w_g^T * dy[n, group g]           then col2im -> dx[n, group g]
//   dw_g                 (Kg, Cg*R*S)   += dy[n, group g] * col^T           summed over n
// Images run in parallel (one column buffer per thread) when there are enough of them; otherwise
// images run one by one and gemm parallelizes inside.
#include <omp.h>

#include <algorithm>
#include <cstdint>

#include "kernels/conv2d.h"
#include "kernels/gemm.h"
#include "kernels/scratch.h"

namespace gs::kernels::cpu {
namespace {

using i64 = std::int64_t;

// Sizes of one convolution, derived once from the tensors.
struct ConvDims {
    i64 N, C, H, W, K, R, S, OH, OW, G, Cg, Kg;
    i64 col_rows() const { return Cg * R * S; }
    i64 col_cols() const { return OH * OW; }
};

ConvDims dims_of(const Shape& xs, const Shape& ws, const Shape& ys, const Conv2dGeometry& g) {
    ConvDims d{};
    d.N = xs[0], d.C = xs[1], d.H = xs[2], d.W = xs[3];
    d.K = ws[0], d.R = ws[2], d.S = ws[3];
    d.OH = ys[2], d.OW = ys[3];
    d.G = g.groups, d.Cg = d.C / g.groups, d.Kg = d.K / g.groups;
    return d;
}

// A 1x1 filter with unit stride and no padding reads x itself as the column matrix.
bool is_pointwise(const ConvDims& d, const Conv2dGeometry& g) {
    return d.R == 1 && d.S == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 && g.pad_w == 0;
}

// Assigns col (Cg*R*S, OH*OW) from x (Cg, H, W), writing zeros where a tap falls in the padding.
template <class T>
void im2col(const T* x, const ConvDims& d, const Conv2dGeometry& g, T* col) {
    for (i64 c = 0; c < d.Cg; ++c)
        for (i64 r = 0; r < d.R; ++r)
            for (i64 s = 0; s < d.S; ++s) {
                T* row = col + ((c * d.R + r) * d.S + s) * d.OH * d.OW;
                const T* plane = x + c * d.H * d.W;
                for (i64 oh = 0; oh < d.OH; ++oh) {
                    const i64 ih = g.in_h(oh, r);
                    T* out = row + oh * d.OW;
                    if (ih < 0 || ih >= d.H) {
                        for (i64 ow = 0; ow < d.OW; ++ow) out[ow] = T(0);
                        continue;
                    }
                    const T* in = plane + ih * d.W;
                    for (i64 ow = 0; ow < d.OW; ++ow) {
                        const i64 iw = g.in_w(ow, s);
                        out[ow] = (iw < 0 || iw >= d.W) ? T(0) : in[iw];
                    }
                }
            }
}

// Assigns dx (Cg, H, W) = the adjoint of im2col applied to dcol: each input pixel receives the sum
// of the column entries that read it, added in the fixed order (c, r, s, oh, ow).
template <class T>
void col2im(const T* dcol, const ConvDims& d, const Conv2dGeometry& g, T* dx) {
    std::fill(dx, dx + d.Cg * d.H * d.W, T(0));
    for (i64 c = 0; c < d.Cg; ++c)
        for (i64 r = 0; r < d.R; ++r)
            for (i64 s = 0; s < d.S; ++s) {
                const T* row = dcol + ((c * d.R + r) * d.S + s) * d.OH * d.OW;
                T* plane = dx + c * d.H * d.W;
                for (i64 oh = 0; oh < d.OH; ++oh) {
                    const i64 ih = g.in_h(oh, r);
                    if (ih < 0 || ih >= d.H) continue;
                    const T* in = row + oh * d.OW;
                    T* out = plane + ih * d.W;
                    for (i64 ow = 0; ow < d.OW; ++ow) {
                        const i64 iw = g.in_w(ow, s);
                        if (iw >= 0 && iw < d.W) out[iw] += in[ow];
                    }
                }
            }
}

// Whether to run images in parallel (each with a serial gemm) rather than one by one.
bool parallel_images(i64 N) { return N > 1 && omp_get_max_threads() > 1 && !omp_in_parallel(); }

template <class T>
void forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g, Tensor& y) {
    const ConvDims d = dims_of(x.shape(), w.shape(), y.shape(), g);
    const T* X = x.data<T>();
    const T* Wt = w.data<T>();
    const T* B = b.defined() ? b.data<T>() : nullptr;
    T* Y = y.data<T>();
    const i64 rows = d.col_rows(), cols = d.col_cols();
    const bool pointwise = is_pointwise(d, g);
#pragma omp parallel for if (parallel_images(d.N)) schedule(static)
    for (i64 n = 0; n < d.N; ++n) {
        T* col = pointwise ? nullptr : thread_scratch(ScratchSlot::columns).get<T>(std::size_t(rows * cols));
        T* yn = Y + n * d.K * cols;
        if (B) {
            // The bias seeds y and gemm adds the products with beta = 1.
            for (i64 k = 0; k < d.K; ++k) std::fill(yn + k * cols, yn + (k + 1) * cols, B[k]);
        }
        for (i64 gi = 0; gi < d.G; ++gi) {
            const T* xg = X + (n * d.C + gi * d.Cg) * d.H * d.W;
            if (!pointwise) im2col(xg, d, g, col);
            gemm<T>(false, false, d.Kg, cols, rows, T(1), Wt + gi * d.Kg * rows, std::max<i64>(rows, 1),
                    pointwise ? xg : col, cols, B ? T(1) : T(0), yn + gi * d.Kg * cols, cols);
        }
    }
}

template <class T>
void backward_input(const Tensor& dy, const Tensor& w, const Conv2dGeometry& g, Tensor& dx) {
    const ConvDims d = dims_of(dx.shape(), w.shape(), dy.shape(), g);
    const T* DY = dy.data<T>();
    const T* Wt = w.data<T>();
    T* DX = dx.data<T>();
    const i64 rows = d.col_rows(), cols = d.col_cols();
    const bool pointwise = is_pointwise(d, g);
#pragma omp parallel for if (parallel_images(d.N)) schedule(static)
    for (i64 n = 0; n < d.N; ++n) {
        T* dcol = pointwise ? nullptr : thread_scratch(ScratchSlot::columns).get<T>(std::size_t(rows * cols));
        for (i64 gi = 0; gi < d.G; ++gi) {
            T* dxg = DX + (n * d.C + gi * d.Cg) * d.H * d.W;
            // Pointwise: the column matrix is dx itself, so gemm assigns it directly.
            gemm<T>(true, false, rows, cols, d.Kg, T(1), Wt + gi * d.Kg * rows, std::max<i64>(rows, 1),
                    DY + (n * d.K + gi * d.Kg) * cols, cols, T(0), pointwise ? dxg : dcol, cols);
            if (!pointwise) col2im(dcol, d, g, dxg);
        }
    }
}

// The batch is cut into a number of chunks that depends only on the shapes (never on the thread
// count); each chunk sums its images into its own partial dw in image order, and the partials are
// added in chunk order. So dw is bitwise reproducible across thread counts.
constexpr i64 kMaxWeightChunks = 8;
constexpr i64 kPartialBudget = i64(1) << 24;  // elements of partial sums held at once

template <class T>
void backward_weight(const Tensor& dy, const Tensor& x, const Conv2dGeometry& g, Tensor& dw) {
    const ConvDims d = dims_of(x.shape(), dw.shape(), dy.shape(), g);
    const T* DY = dy.data<T>();
    const T* X = x.data<T>();
    T* DW = dw.data<T>();
    const i64 wsize = dw.numel();
    const i64 rows = d.col_rows(), cols = d.col_cols();
    if (wsize == 0) return;
    if (d.N == 0) {
        std::fill(DW, DW + wsize, T(0));
        return;
    }
    const i64 chunks = std::clamp<i64>(std::min(kMaxWeightChunks, kPartialBudget / wsize), 1, d.N);
    T* partials = chunks == 1 ? DW : thread_scratch(ScratchSlot::partials).get<T>(std::size_t(chunks * wsize));
    const bool pointwise = is_pointwise(d, g);
#pragma omp parallel for if (chunks > 1 && parallel_images(d.N)) schedule(static)
    for (i64 ch = 0; ch < chunks; ++ch) {
        T* part = partials + ch * wsize;
        const i64 n0 = ch * d.N / chunks, n1 = (ch + 1) * d.N / chunks;
        T* col = pointwise ? nullptr : thread_scratch(ScratchSlot::columns).get<T>(std::size_t(rows * cols));
        for (i64 n = n0; n < n1; ++n)
            for (i64 gi = 0; gi < d.G; ++gi) {
                const T* xg = X + (n * d.C + gi * d.Cg) * d.H * d.W;
                if (!pointwise) im2col(xg, d, g, col);
                gemm<T>(false, true, d.Kg, rows, cols, T(1), DY + (n * d.K + gi * d.Kg) * cols, cols,
                        pointwise ? xg : col, cols, n == n0 ? T(0) : T(1), part + gi * d.Kg * rows,
                        std::max<i64>(rows, 1));
            }
    }
    if (chunks == 1) return;
#pragma omp parallel for if (wsize >= 32768) schedule(static)
    for (i64 i = 0; i < wsize; ++i) {
        T s = partials[i];
        for (i64 ch = 1; ch < chunks; ++ch) s += partials[ch * wsize + i];
        DW[i] = s;
    }
}

template <class T>
void backward_bias(const Tensor& dy, Tensor& db) {
    const i64 N = dy.size(0), K = dy.size(1), P = dy.size(2) * dy.size(3);
    const T* DY = dy.data<T>();
    T* DB = db.data<T>();
    // One thread per channel, summing images then pixels in order.
#pragma omp parallel for if (N * K * P >= 32768) schedule(static)
    for (i64 k = 0; k < K; ++k) {
        T s = T(0);
        for (i64 n = 0; n < N; ++n) {
            const T* p = DY + (n * K + k) * P;
            for (i64 i = 0; i < P; ++i) s += p[i];
        }
        DB[k] = s;
    }
}

}  // namespace

void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g, Tensor& y) {
    visit_float(x.dtype(), "conv2d_forward", [&](auto tag) { forward<decltype(tag)>(x, w, b, g, y); });
}

void conv2d_backward_input(const Tensor& dy, const Tensor& w, const Conv2dGeometry& g, Tensor& dx) {
    visit_float(dy.dtype(), "conv2d_backward_input", [&](auto tag) { backward_input<decltype(tag)>(dy, w, g, dx); });
}

void conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Conv2dGeometry& g, Tensor& dw) {
    visit_float(dy.dtype(), "conv2d_backward_weight", [&](auto tag) { backward_weight<decltype(tag)>(dy, x, g, dw); });
}

void conv2d_backward_bias(const Tensor& dy, Tensor& db) {
    visit_float(dy.dtype(), "conv2d_backward_bias", [&](auto tag) { backward_bias<decltype(tag)>(dy, db); });
}

}  // namespace gs::kernels::cpu
