// CPU convolution by im2col + gemm, several images per gemm call.
//
// For a batch slice of `cnt` images n0.. and group g (Cg = C/groups input channels, Kg = K/groups
// filters, P = OH*OW output pixels), the column matrix holds the images side by side:
//   col   (Cg*R*S, cnt*P): col[(c*R + r)*S + s][j*P + oh*OW + ow] = x[n0 + j, g*Cg + c, in_h(oh, r), in_w(ow, s)]
//                          (0 in the padding)
//   y_g   (Kg, cnt*P)      = w_g (Kg, Cg*R*S) * col               then scattered to y[n0 + j, group g]
//   dcol  (Cg*R*S, cnt*P)  = w_g^T * dy_g (Kg, cnt*P)             then col2im -> dx[n0 + j, group g]
//   dw_g  (Kg, Cg*R*S)    += dy_g * col^T                         summed over slices
// Several images per call give gemm a wide N (7x7 and 14x14 layers have P = 49 and 196, which
// wasted a quarter of a 16-wide register tile per image and repacked w for every image). The
// column matrix is built a chunk of rows at a time, sized to stay in L2 until gemm packs it.
// Slices run in parallel (one set of buffers per thread) when there are several; otherwise gemm
// parallelizes inside. Slicing depends only on the shapes, so results do not depend on the
// thread count.
#include <omp.h>

#include <algorithm>
#include <atomic>
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
    i64 pixels() const { return OH * OW; }
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

// The outputs o in [0, n_out) whose input coordinate o*stride + off falls inside [0, n_in):
// [lo, hi), empty when lo == hi. Lets the im2col/col2im rows copy their interior without a bounds
// check per element and handle the padding as two plain runs.
struct Span {
    i64 lo, hi;
};

Span valid_span(i64 off, i64 stride, i64 n_in, i64 n_out) {
    const i64 lo = off >= 0 ? 0 : (-off + stride - 1) / stride;
    const i64 last = n_in - 1 - off;  // o*stride <= last
    const i64 hi = last < 0 ? 0 : std::min(n_out, last / stride + 1);
    return {std::min(lo, hi), hi};
}

// Assigns rows [row0, row1) of one image's column matrix (Cg*R*S, P) from x (Cg, H, W): row row
// goes to col + (row - row0) * ld, col[(c*R + r)*S + s][oh*OW + ow] = x[c, in_h(oh, r), in_w(ow, s)],
// 0 in the padding.
template <class T>
void im2col(const T* x, const ConvDims& d, const Conv2dGeometry& g, i64 row0, i64 row1, T* col, i64 ld) {
    const i64 P = d.pixels();
    for (i64 row = row0; row < row1; ++row) {
        const i64 c = row / (d.R * d.S), r = (row / d.S) % d.R, s = row % d.S;
        T* out_row = col + (row - row0) * ld;
        const T* plane = x + c * d.H * d.W;
        const i64 off_w = g.in_w(0, s);
        const Span sw = valid_span(off_w, g.stride_w, d.W, d.OW);
        const Span sh = valid_span(g.in_h(0, r), g.stride_h, d.H, d.OH);
        std::fill(out_row, out_row + sh.lo * d.OW, T(0));
        for (i64 oh = sh.lo; oh < sh.hi; ++oh) {
            T* out = out_row + oh * d.OW;
            const T* in = plane + g.in_h(oh, r) * d.W + off_w;  // in[ow * stride_w] for ow in sw
            std::fill(out, out + sw.lo, T(0));
            if (g.stride_w == 1) {
                std::copy(in + sw.lo, in + sw.hi, out + sw.lo);
            } else {
                for (i64 ow = sw.lo; ow < sw.hi; ++ow) out[ow] = in[ow * g.stride_w];
            }
            std::fill(out + sw.hi, out + d.OW, T(0));
        }
        std::fill(out_row + sh.hi * d.OW, out_row + P, T(0));
    }
}

// Adds rows [row0, row1) of one image's dcol (row row at dcol + (row - row0) * ld) into dx
// (Cg, H, W) through the adjoint of im2col: each input pixel receives the column entries that read
// it. The caller zeroes dx first and passes the rows in increasing order, so every pixel sums in
// the fixed order (c, r, s, oh, ow) whatever the chunking.
template <class T>
void col2im_add(const T* dcol, const ConvDims& d, const Conv2dGeometry& g, i64 row0, i64 row1, i64 ld, T* dx) {
    for (i64 row = row0; row < row1; ++row) {
        const i64 c = row / (d.R * d.S), r = (row / d.S) % d.R, s = row % d.S;
        const T* in_row = dcol + (row - row0) * ld;
        T* plane = dx + c * d.H * d.W;
        const i64 off_w = g.in_w(0, s);
        const Span sw = valid_span(off_w, g.stride_w, d.W, d.OW);
        const Span sh = valid_span(g.in_h(0, r), g.stride_h, d.H, d.OH);
        for (i64 oh = sh.lo; oh < sh.hi; ++oh) {
            const T* in = in_row + oh * d.OW;
            T* out = plane + g.in_h(oh, r) * d.W + off_w;  // out[ow * stride_w] for ow in sw
            if (g.stride_w == 1) {
                for (i64 ow = sw.lo; ow < sw.hi; ++ow) out[ow] += in[ow];
            } else {
                for (i64 ow = sw.lo; ow < sw.hi; ++ow) out[ow * g.stride_w] += in[ow];
            }
        }
    }
}

// Images per gemm call: enough for about kSliceCols columns, but at least 4 slices when the batch
// allows, so both threads get several. A pointwise conv gains less (its x needs no im2col when
// alone, and copying it costs about what the wider gemm saves), so it groups only tiny images.
constexpr i64 kSliceCols = 384, kPointwiseSliceCols = 160;

i64 slice_images(const ConvDims& d, bool pointwise) {
    const i64 target = pointwise ? kPointwiseSliceCols : kSliceCols;
    const i64 want = (target + d.pixels() - 1) / d.pixels();
    return std::clamp<i64>(std::min(want, d.N / 4), 1, std::max<i64>(d.N, 1));
}

// Rows of the column matrix built at once: a chunk of cols columns stays in L2 (192 KiB) until
// gemm packs it right after; materializing all Cg*R*S rows (1.2 MB per image for a 5x5 conv over
// 64 channels at 14x14) sent every element through memory twice.
std::atomic<i64> g_chunk_rows_override{0};

i64 chunk_rows(const ConvDims& d, i64 cols, std::size_t elem_bytes) {
    const i64 rows = d.col_rows();
    if (const i64 o = g_chunk_rows_override.load(std::memory_order_relaxed); o > 0) return std::max<i64>(std::min(o, rows), 1);
    constexpr i64 kChunkBytes = 192 * 1024;
    const i64 fit = std::max<i64>(kChunkBytes / std::max<i64>(cols * i64(elem_bytes), 1), 16);
    return std::max<i64>(std::min(fit, rows), 1);
}

// Whether to run slices in parallel (each with a serial gemm) rather than one by one.
bool parallel_slices(i64 slices) { return slices > 1 && omp_get_max_threads() > 1 && !omp_in_parallel(); }

// dyg (Kg, cnt*P) = dy[n0 + j, group gi] side by side. Only used for cnt > 1.
template <class T>
void gather_dy(const T* DY, const ConvDims& d, i64 n0, i64 cnt, i64 gi, T* dyg) {
    const i64 P = d.pixels(), cols = cnt * P;
    for (i64 j = 0; j < cnt; ++j)
        for (i64 k = 0; k < d.Kg; ++k) {
            const T* src = DY + ((n0 + j) * d.K + gi * d.Kg + k) * P;
            std::copy(src, src + P, dyg + k * cols + j * P);
        }
}

template <class T>
void forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g, Tensor& y) {
    const ConvDims d = dims_of(x.shape(), w.shape(), y.shape(), g);
    const T* X = x.data<T>();
    const T* Wt = w.data<T>();
    const T* B = b.defined() ? b.data<T>() : nullptr;
    T* Y = y.data<T>();
    const i64 rows = d.col_rows(), P = d.pixels(), HW = d.H * d.W;
    const bool pointwise = is_pointwise(d, g);
    const i64 per = slice_images(d, pointwise), slices = (d.N + per - 1) / per;
    // A pointwise conv of single images reads x in place: nothing to chunk.
    const i64 chunk = pointwise && per == 1 ? std::max<i64>(rows, 1) : chunk_rows(d, per * P, sizeof(T));
#pragma omp parallel for if (parallel_slices(slices)) schedule(static)
    for (i64 sl = 0; sl < slices; ++sl) {
        const i64 n0 = sl * per, cnt = std::min(per, d.N - n0), cols = cnt * P;
        // One image: gemm writes y (and reads a pointwise x) in place; several: through buffers.
        const bool direct = cnt == 1;
        T* col = direct && pointwise ? nullptr : thread_scratch(ScratchSlot::columns).get<T>(std::size_t(chunk * cols));
        T* ybuf = direct ? nullptr : thread_scratch(ScratchSlot::staging).get<T>(std::size_t(d.Kg * cols));
        for (i64 gi = 0; gi < d.G; ++gi) {
            T* yg = direct ? Y + (n0 * d.K + gi * d.Kg) * P : ybuf;  // (Kg, cols), row stride cols
            if (B) {
                // The bias seeds y and gemm adds the products with beta = 1.
                for (i64 k = 0; k < d.Kg; ++k) std::fill(yg + k * cols, yg + (k + 1) * cols, B[gi * d.Kg + k]);
            }
            // y_g = sum over row chunks of w_g[:, chunk] * col[chunk, :], chunks in order. With no
            // input channels (rows == 0) one empty chunk still lets gemm assign y = bias or 0.
            for (i64 r0 = 0; r0 == 0 || r0 < rows; r0 += chunk) {
                const i64 r1 = std::min(rows, r0 + chunk);
                const T* bmat = col;
                if (direct && pointwise) {
                    bmat = X + (n0 * d.C + gi * d.Cg + r0) * HW;
                } else {
                    for (i64 j = 0; j < cnt; ++j)
                        im2col(X + ((n0 + j) * d.C + gi * d.Cg) * HW, d, g, r0, r1, col + j * P, cols);
                }
                gemm<T>(false, false, d.Kg, cols, r1 - r0, T(1), Wt + gi * d.Kg * rows + r0, std::max<i64>(rows, 1),
                        bmat, cols, (B || r0 > 0) ? T(1) : T(0), yg, cols);
            }
            if (!direct)
                for (i64 j = 0; j < cnt; ++j)
                    for (i64 k = 0; k < d.Kg; ++k)
                        std::copy(ybuf + k * cols + j * P, ybuf + k * cols + (j + 1) * P,
                                  Y + ((n0 + j) * d.K + gi * d.Kg + k) * P);
        }
    }
}

template <class T>
void backward_input(const Tensor& dy, const Tensor& w, const Conv2dGeometry& g, Tensor& dx) {
    const ConvDims d = dims_of(dx.shape(), w.shape(), dy.shape(), g);
    const T* DY = dy.data<T>();
    const T* Wt = w.data<T>();
    T* DX = dx.data<T>();
    const i64 rows = d.col_rows(), P = d.pixels(), HW = d.H * d.W;
    const bool pointwise = is_pointwise(d, g);
    const i64 per = slice_images(d, pointwise), slices = (d.N + per - 1) / per;
    const i64 chunk = chunk_rows(d, per * P, sizeof(T));
#pragma omp parallel for if (parallel_slices(slices)) schedule(static)
    for (i64 sl = 0; sl < slices; ++sl) {
        const i64 n0 = sl * per, cnt = std::min(per, d.N - n0), cols = cnt * P;
        const bool direct = cnt == 1;
        T* dyg = direct ? nullptr : thread_scratch(ScratchSlot::staging).get<T>(std::size_t(d.Kg * cols));
        T* dcol = direct && pointwise ? nullptr : thread_scratch(ScratchSlot::columns).get<T>(std::size_t(chunk * cols));
        for (i64 gi = 0; gi < d.G; ++gi) {
            const T* bmat = direct ? DY + (n0 * d.K + gi * d.Kg) * P : dyg;  // (Kg, cols)
            if (!direct) gather_dy(DY, d, n0, cnt, gi, dyg);
            if (direct && pointwise) {
                // The column matrix is dx itself, so gemm assigns it directly.
                gemm<T>(true, false, rows, cols, d.Kg, T(1), Wt + gi * d.Kg * rows, std::max<i64>(rows, 1), bmat, cols,
                        T(0), DX + (n0 * d.C + gi * d.Cg) * HW, cols);
                continue;
            }
            for (i64 j = 0; j < cnt; ++j) {
                T* dxg = DX + ((n0 + j) * d.C + gi * d.Cg) * HW;
                std::fill(dxg, dxg + d.Cg * HW, T(0));
            }
            // dcol[chunk, :] = w_g[:, chunk]^T * dy_g, added into dx while it is still in cache.
            for (i64 r0 = 0; r0 < rows; r0 += chunk) {
                const i64 r1 = std::min(rows, r0 + chunk);
                gemm<T>(true, false, r1 - r0, cols, d.Kg, T(1), Wt + gi * d.Kg * rows + r0, std::max<i64>(rows, 1),
                        bmat, cols, T(0), dcol, cols);
                for (i64 j = 0; j < cnt; ++j)
                    col2im_add(dcol + j * P, d, g, r0, r1, cols, DX + ((n0 + j) * d.C + gi * d.Cg) * HW);
            }
        }
    }
}

// The batch is cut into a number of chunks that depends only on the shapes (never on the thread
// count); each chunk sums its slices into its own partial dw in slice order, and the partials are
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
    const i64 rows = d.col_rows(), P = d.pixels(), HW = d.H * d.W;
    if (wsize == 0) return;
    if (d.N == 0) {
        std::fill(DW, DW + wsize, T(0));
        return;
    }
    const i64 chunks = std::clamp<i64>(std::min(kMaxWeightChunks, kPartialBudget / wsize), 1, d.N);
    T* partials = chunks == 1 ? DW : thread_scratch(ScratchSlot::partials).get<T>(std::size_t(chunks * wsize));
    const bool pointwise = is_pointwise(d, g);
    const i64 per = slice_images(d, pointwise);
    const i64 col_chunk = pointwise && per == 1 ? std::max<i64>(rows, 1) : chunk_rows(d, per * P, sizeof(T));
#pragma omp parallel for if (parallel_slices(chunks)) schedule(static)
    for (i64 ch = 0; ch < chunks; ++ch) {
        T* part = partials + ch * wsize;
        const i64 c0 = ch * d.N / chunks, c1 = (ch + 1) * d.N / chunks;
        T* col = thread_scratch(ScratchSlot::columns).get<T>(std::size_t(col_chunk * per * P));
        T* dyg = thread_scratch(ScratchSlot::staging).get<T>(std::size_t(d.Kg * per * P));
        for (i64 n0 = c0; n0 < c1; n0 += per) {
            const i64 cnt = std::min(per, c1 - n0), cols = cnt * P;
            const bool direct = cnt == 1;
            for (i64 gi = 0; gi < d.G; ++gi) {
                const T* amat = direct ? DY + (n0 * d.K + gi * d.Kg) * P : dyg;  // (Kg, cols)
                if (!direct) gather_dy(DY, d, n0, cnt, gi, dyg);
                // dw_g[:, chunk] (+)= dy_g * col[chunk, :]^T: each dw element sums slices in order.
                for (i64 r0 = 0; r0 < rows; r0 += col_chunk) {
                    const i64 r1 = std::min(rows, r0 + col_chunk);
                    const T* bmat = col;
                    if (direct && pointwise) {
                        bmat = X + (n0 * d.C + gi * d.Cg + r0) * HW;
                    } else {
                        for (i64 j = 0; j < cnt; ++j)
                            im2col(X + ((n0 + j) * d.C + gi * d.Cg) * HW, d, g, r0, r1, col + j * P, cols);
                    }
                    gemm<T>(false, true, d.Kg, r1 - r0, cols, T(1), amat, cols, bmat, cols, n0 == c0 ? T(0) : T(1),
                            part + gi * d.Kg * rows + r0, std::max<i64>(rows, 1));
                }
            }
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

void set_conv2d_column_chunk(std::int64_t rows) { g_chunk_rows_override.store(std::max<i64>(rows, 0)); }

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
