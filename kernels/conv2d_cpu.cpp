// CPU convolution. Unit-stride convs with 3x3-coverable filters and enough channels go to Winograd
// (conv2d_winograd_cpu.cpp); the rest is im2col + gemm, several images per gemm call.
//
// For a batch slice of `cnt` images n0.. and group g (Cg = C/groups input channels, Kg = K/groups
// filters, P = OH*OW output pixels), the column matrix holds the images side by side:
//   col   (Cg*R*S, cnt*P): col[(c*R + r)*S + s][j*P + oh*OW + ow] = x[n0 + j, g*Cg + c, in_h(oh, r), in_w(ow, s)]
//                          (0 in the padding)
//   y_g   (Kg, cnt*P)      = w_g (Kg, Cg*R*S) * col
//   dcol  (Cg*R*S, cnt*P)  = w_g^T * dy_g (Kg, cnt*P)             then col2im -> dx[n0 + j, group g]
//   dw_g  (Kg, Cg*R*S)    += dy_g * col^T                         summed over slices
// Several images per call give gemm a wide N (7x7 and 14x14 layers have P = 49 and 196, which
// wasted a quarter of a 16-wide register tile per image and repacked w for every image).
// The forward pass never stores col: it gathers each kc x NR micro-panel of it from x straight
// into gemm's packed layout and multiplies it by the weights, packed once per call. With unit
// strides and at least 16 input channels per group the input gradient is a forward conv
// (backward_input_as_forward); dcol and col2im serve strided convs and few input channels. The
// weight gradient builds col a chunk of rows at a time, sized to stay in L2 until gemm packs it.
// Slices run in parallel (one set of buffers per thread) when there are several; otherwise gemm
// parallelizes inside. Slicing depends only on the shapes, so results do not depend on the
// thread count.
#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/conv2d_winograd.h"
#include "kernels/gemm.h"
#include "kernels/lane_sum_cpu.h"
#include "kernels/parallel_cpu.h"
#include "kernels/scratch.h"
#include "tensor/error.h"

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
// 64 channels at 14x14) sent every element through memory twice. All rows go at once when they
// fit in a third more: each chunk is a gemm that packs the other operand (dy, or w) again, and a
// 3-channel 5x5 layer's 75 rows at 28x28 (235 KB) went as 62 + 13, the 13 as a narrow product.
std::atomic<i64> g_chunk_rows_override{0};

i64 chunk_rows(const ConvDims& d, i64 cols, std::size_t elem_bytes) {
    const i64 rows = d.col_rows();
    if (const i64 o = g_chunk_rows_override.load(std::memory_order_relaxed); o > 0) return std::max<i64>(std::min(o, rows), 1);
    constexpr i64 kChunkBytes = 192 * 1024;
    const double all_bytes = double(rows) * double(cols) * double(elem_bytes);
    if (all_bytes <= kChunkBytes * 4.0 / 3.0) return std::max<i64>(rows, 1);
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

// ---- the forward pass: the column matrix gathered straight into gemm's packed panels ------------

// Rows of the column matrix per packed micro-panel: kc x NR elements (16 KiB) stay in L1 while the
// MR-row panels of the weights stream past them from L2.
constexpr i64 kPanelBytes = 16 * 1024;

i64 panel_rows(const ConvDims& d, i64 nr, std::size_t elem_bytes) {
    const i64 rows = d.col_rows();
    if (const i64 o = g_chunk_rows_override.load(std::memory_order_relaxed); o > 0) return std::max<i64>(std::min(o, rows), 1);
    return std::max<i64>(std::min(kPanelBytes / (nr * i64(elem_bytes)), rows), 1);
}

// The widest register tile of any gemm ISA (AVX-512 f32: 32 columns).
constexpr i64 kMaxPanelCols = 32;

// A run of consecutive columns [jj, jj + len) of a micro-panel that read one output row oh of one
// image, output pixels ow0.. (for a pointwise conv the whole image is one row: oh = 0, ow0 = pixel).
template <class T>
struct ColumnRun {
    const T* image;  // x of the run's image at the group's first channel
    i64 jj, len, oh, ow0;
};

// Splits the columns [j0, j0 + nr) of a slice (images side by side, P columns each) into runs.
template <class T>
int column_runs(const T* Xg, i64 image_stride, const ConvDims& d, bool pointwise, i64 j0, i64 nr, ColumnRun<T>* runs) {
    const i64 P = d.pixels(), width = pointwise ? P : d.OW;
    int n = 0;
    for (i64 jj = 0; jj < nr;) {
        const i64 j = j0 + jj, pix = j % P, ow = pix % width;
        const i64 len = std::min(nr - jj, width - ow);
        runs[n++] = {Xg + (j / P) * image_stride, jj, len, pix / width, ow};
        jj += len;
    }
    return n;
}

// The kc x NR micro-panel of the column matrix with rows [r0, r1) and the columns of `runs`, in
// gemm's packed-B layout: dst[(row - r0)*NR + jj] = col[row][j0 + jj], zero past nr. wspan[s]: the
// output columns whose filter column s reads inside the image. Run by run, so that the bounds of a
// run are worked out once per filter tap rather than once per row.
template <class T>
void pack_column_panel(const ColumnRun<T>* runs, int nruns, const ConvDims& d, const Conv2dGeometry& g, bool pointwise,
                       const Span* wspan, i64 r0, i64 r1, i64 nr, i64 NR, T* __restrict dst) {
    const i64 HW = d.H * d.W, RS = d.R * d.S;
    for (i64 row = r0; row < r1; ++row) std::fill(dst + (row - r0) * NR + nr, dst + (row - r0 + 1) * NR, T(0));
    for (int q = 0; q < nruns; ++q) {
        const ColumnRun<T>& run = runs[q];
        const i64 len = run.len;
        T* __restrict o = dst + run.jj;
        if (pointwise) {
            for (i64 row = r0; row < r1; ++row, o += NR) {
                const T* __restrict in = run.image + row * HW + run.ow0;
                for (i64 i = 0; i < len; ++i) o[i] = in[i];
            }
            continue;
        }
        i64 c = r0 / RS, r = (r0 / d.S) % d.R, s = r0 % d.S;
        for (i64 row = r0; row < r1; ++row, o += NR) {
            const i64 ih = g.in_h(run.oh, r);
            if (ih < 0 || ih >= d.H) {
                for (i64 i = 0; i < len; ++i) o[i] = T(0);
            } else {
                const i64 lo = std::clamp(wspan[s].lo - run.ow0, i64(0), len);
                const i64 hi = std::clamp(wspan[s].hi - run.ow0, lo, len);
                const T* __restrict in = run.image + c * HW + ih * d.W + g.in_w(run.ow0, s);  // o[0]'s input
                for (i64 i = 0; i < lo; ++i) o[i] = T(0);
                if (g.stride_w == 1) {
                    if (lo == 0 && hi == len) {
                        for (i64 i = 0; i < len; ++i) o[i] = in[i];
                    } else {
                        for (i64 i = lo; i < hi; ++i) o[i] = in[i];
                    }
                } else {
                    for (i64 i = lo; i < hi; ++i) o[i] = in[i * g.stride_w];
                }
                for (i64 i = hi; i < len; ++i) o[i] = T(0);
            }
            if (++s == d.S) {
                s = 0;
                if (++r == d.R) r = 0, ++c;
            }
        }
    }
}

// y = conv(x, w) + b on raw arrays (b may be null). The weights are packed once per call, a block of
// kc rows at a time; each slice of images then multiplies them by micro-panels of its column matrix
// gathered from x one at a time, so the column matrix is never stored.
template <class T>
void forward_raw(const ConvDims& d, const Conv2dGeometry& g, const T* X, const T* Wt, const T* B, T* Y) {
    if (const WinogradShape ws{d.N, d.C, d.H, d.W, d.K, d.OH, d.OW, d.G, d.R, d.S}; winograd_applies(ws, g))
        return winograd_forward(ws, g, X, Wt, B, Y);
    const GemmTile tile = gemm_tile<T>();
    const i64 rows = d.col_rows(), P = d.pixels(), HW = d.H * d.W, NR = tile.nr;
    GS_CHECK(NR <= kMaxPanelCols, "conv2d: gemm tile of ", NR, " columns is wider than ", kMaxPanelCols);
    const bool pointwise = is_pointwise(d, g);
    const i64 per = slice_images(d, pointwise), slices = (d.N + per - 1) / per;
    const i64 kc = panel_rows(d, NR, sizeof(T));
    // Group gi's weights, rows [r0, r0 + kc), packed at wpk + gi*Mp*rows + Mp*r0.
    const i64 Mp = (d.Kg + tile.mr - 1) / tile.mr * tile.mr;
    T* wpk = thread_scratch(ScratchSlot::packed_weights).get<T>(std::size_t(d.G * Mp * rows));
    for (i64 gi = 0; gi < d.G; ++gi)
        for (i64 r0 = 0; r0 < rows; r0 += kc)
            gemm_pack_a(tile, false, d.Kg, std::min(kc, rows - r0), Wt + gi * d.Kg * rows + r0, std::max<i64>(rows, 1),
                        wpk + gi * Mp * rows + Mp * r0);
    std::vector<Span> wspan(std::size_t(d.S));
    for (i64 s = 0; s < d.S; ++s) wspan[std::size_t(s)] = valid_span(g.in_w(0, s), g.stride_w, d.W, d.OW);
#pragma omp parallel for if (parallel_slices(slices)) schedule(static)
    for (i64 sl = 0; sl < slices; ++sl) {
        const i64 n0 = sl * per, cols = std::min(per, d.N - n0) * P;
        T* panel = thread_scratch(ScratchSlot::columns).get<T>(std::size_t(kc * NR));
        // A micro-panel that straddles two images sums into this tile, then is scattered to y.
        T* tile_buf = thread_scratch(ScratchSlot::staging).get<T>(std::size_t(d.Kg * NR));
        ColumnRun<T> runs[kMaxPanelCols];
        for (i64 gi = 0; gi < d.G; ++gi) {
            const T* Xg = X + (n0 * d.C + gi * d.Cg) * HW;
            T* Yg = Y + (n0 * d.K + gi * d.Kg) * P;  // image n0, group gi; image j at + j*K*P
            // Micro-panel by micro-panel, all row blocks of one before the next: its outputs stay in
            // L1 across the blocks and are written to y once.
            for (i64 j0 = 0; j0 < cols; j0 += NR) {
                const i64 nr = std::min(NR, cols - j0);
                const int nruns = column_runs(Xg, d.C * HW, d, pointwise, j0, nr, runs);
                const bool straddles = (j0 + nr - 1) / P != j0 / P;
                T* c = straddles ? tile_buf : Yg + (j0 / P) * d.K * P + j0 % P;
                const i64 ldc = straddles ? NR : P;
                // The bias seeds the outputs and the products are added with beta = 1; with no
                // input channels (rows == 0) they are the bias or 0.
                if (B || rows == 0)
                    for (i64 k = 0; k < d.Kg; ++k) std::fill(c + k * ldc, c + k * ldc + nr, B ? B[gi * d.Kg + k] : T(0));
                for (i64 r0 = 0; r0 < rows; r0 += kc) {
                    const i64 r1 = std::min(rows, r0 + kc);
                    pack_column_panel(runs, nruns, d, g, pointwise, wspan.data(), r0, r1, nr, NR, panel);
                    gemm_packed(tile, d.Kg, nr, r1 - r0, T(1), wpk + gi * Mp * rows + Mp * r0, panel,
                                (B || r0 > 0) ? T(1) : T(0), c, ldc);
                }
                if (straddles)
                    for (i64 jj = 0; jj < nr; ++jj) {
                        T* y = Yg + ((j0 + jj) / P) * d.K * P + (j0 + jj) % P;
                        for (i64 k = 0; k < d.Kg; ++k) y[k * P] = tile_buf[k * NR + jj];
                    }
            }
        }
    }
}

template <class T>
void forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g, Tensor& y) {
    forward_raw(dims_of(x.shape(), w.shape(), y.shape(), g), g, x.data<T>(), w.data<T>(),
                b.defined() ? b.data<T>() : nullptr, y.data<T>());
}

// ---- the input gradient -------------------------------------------------------------------------

// Measured here (N 128, K 64, 28x28, f32): below 16 input channels dcol + col2im was faster at
// every size tried (C 4: 13 vs 46 ms for 3x3, 28 vs 112 for 5x5; C 12: 30 vs 55 and 75 vs 138).
constexpr i64 kMinForwardInputChannels = 16;

// With unit strides the input gradient is itself a convolution: of dy with the filters flipped in
// both spatial axes and their channel axes swapped within each group, padded by dil*(R-1) - pad.
// It then runs through the forward's packed path, with no column matrix and no col2im scatter.
// A padding wider than the dilated filter would need a negative padding: that keeps im2col.
bool input_gradient_is_forward(const ConvDims& d, const Conv2dGeometry& g) {
    if (g.stride_h != 1 || g.stride_w != 1 || g.pad_h > g.dil_h * (d.R - 1) || g.pad_w > g.dil_w * (d.S - 1))
        return false;
    // The flipped conv's gemm has one row per input channel: with few (a first layer's 3), its
    // register tiles run mostly empty (alexnet_small's conv1: 116 ms, against 22 ms through dcol).
    // Pointwise convs always take it (their dcol would be dx itself).
    return d.Cg >= kMinForwardInputChannels || is_pointwise(d, g);
}

template <class T>
void backward_input_as_forward(const ConvDims& d, const Conv2dGeometry& g, const T* DY, const T* Wt, T* DX) {
    const i64 RS = d.R * d.S;
    // wf (C, Kg, R, S): wf[gi*Cg + c][k][R-1-r][S-1-s] = w[gi*Kg + k][c][r][s].
    T* wf = thread_scratch(ScratchSlot::weights).get<T>(std::size_t(d.C * d.Kg * RS));
    for (i64 gi = 0; gi < d.G; ++gi)
        for (i64 k = 0; k < d.Kg; ++k)
            for (i64 c = 0; c < d.Cg; ++c) {
                const T* src = Wt + ((gi * d.Kg + k) * d.Cg + c) * RS;
                T* dst = wf + ((gi * d.Cg + c) * d.Kg + k) * RS;
                for (i64 i = 0; i < RS; ++i) dst[RS - 1 - i] = src[i];
            }
    ConvDims t = d;
    t.C = d.K, t.H = d.OH, t.W = d.OW, t.K = d.C, t.OH = d.H, t.OW = d.W, t.Cg = d.Kg, t.Kg = d.Cg;
    Conv2dGeometry tg = g;
    tg.pad_h = g.dil_h * (d.R - 1) - g.pad_h;
    tg.pad_w = g.dil_w * (d.S - 1) - g.pad_w;
    forward_raw(t, tg, DY, wf, static_cast<const T*>(nullptr), DX);
}

template <class T>
void backward_input(const Tensor& dy, const Tensor& w, const Conv2dGeometry& g, Tensor& dx) {
    const ConvDims d = dims_of(dx.shape(), w.shape(), dy.shape(), g);
    const T* DY = dy.data<T>();
    const T* Wt = w.data<T>();
    T* DX = dx.data<T>();
    if (input_gradient_is_forward(d, g)) return backward_input_as_forward(d, g, DY, Wt, DX);
    // Strided convs, few input channels (never pointwise: that takes the forward path above) and
    // paddings wider than the filter: dcol and col2im.
    const i64 rows = d.col_rows(), P = d.pixels(), HW = d.H * d.W;
    const i64 per = slice_images(d, false), slices = (d.N + per - 1) / per;
    const i64 chunk = chunk_rows(d, per * P, sizeof(T));
    // One slice (a single image) runs its gemms on the whole team instead.
    parallel_for_if(parallel_slices(slices), slices, [&](i64 sl) {
        const i64 n0 = sl * per, cnt = std::min(per, d.N - n0), cols = cnt * P;
        const bool direct = cnt == 1;
        T* dyg = direct ? nullptr : thread_scratch(ScratchSlot::staging).get<T>(std::size_t(d.Kg * cols));
        T* dcol = thread_scratch(ScratchSlot::columns).get<T>(std::size_t(chunk * cols));
        for (i64 gi = 0; gi < d.G; ++gi) {
            const T* bmat = direct ? DY + (n0 * d.K + gi * d.Kg) * P : dyg;  // (Kg, cols)
            if (!direct) gather_dy(DY, d, n0, cnt, gi, dyg);
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
    });
}

// The batch is cut into a number of chunks that depends only on the shapes (never on the thread
// count); each chunk sums its slices into its own partial dw in slice order, and the partials are
// added in chunk order. So dw is bitwise reproducible across thread counts.
constexpr i64 kMaxWeightChunks = 8;
constexpr i64 kPartialBudget = i64(1) << 24;  // elements of partial sums held at once

template <class T>
void backward_weight(const ConvDims& d, const Conv2dGeometry& g, const T* X, const T* DY, T* DW) {
    const i64 wsize = d.K * d.Cg * d.R * d.S;
    const i64 rows = d.col_rows(), P = d.pixels(), HW = d.H * d.W;
    if (wsize == 0) return;
    if (d.N == 0) {
        std::fill(DW, DW + wsize, T(0));
        return;
    }
    if (const WinogradShape ws{d.N, d.C, d.H, d.W, d.K, d.OH, d.OW, d.G, d.R, d.S}; winograd_backward_weight_applies(ws, g))
        return winograd_backward_weight(ws, g, X, DY, DW);
    const i64 chunks = std::clamp<i64>(std::min(kMaxWeightChunks, kPartialBudget / wsize), 1, d.N);
    T* partials = chunks == 1 ? DW : thread_scratch(ScratchSlot::partials).get<T>(std::size_t(chunks * wsize));
    const bool pointwise = is_pointwise(d, g);
    const i64 per = slice_images(d, pointwise);
    const i64 col_chunk = pointwise && per == 1 ? std::max<i64>(rows, 1) : chunk_rows(d, per * P, sizeof(T));
    // One chunk (a single image) runs its gemms on the whole team instead.
    parallel_for_if(parallel_slices(chunks), chunks, [&](i64 ch) {
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
    });
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
    // One thread per channel, adding its planes' sums image by image.
#pragma omp parallel for if (N * K * P >= 32768) schedule(static)
    for (i64 k = 0; k < K; ++k) {
        T s = T(0);
        for (i64 n = 0; n < N; ++n) s += lane_sum(DY + (n * K + k) * P, P);
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

template <class T>
void conv2d_backward_weight_raw(const Shape& x_shape, const Shape& w_shape, const Shape& y_shape,
                                const Conv2dGeometry& g, const T* x, const T* dy, T* dw) {
    backward_weight<T>(dims_of(x_shape, w_shape, y_shape, g), g, x, dy, dw);
}
template void conv2d_backward_weight_raw<float>(const Shape&, const Shape&, const Shape&, const Conv2dGeometry&,
                                                const float*, const float*, float*);
template void conv2d_backward_weight_raw<double>(const Shape&, const Shape&, const Shape&, const Conv2dGeometry&,
                                                 const double*, const double*, double*);

void conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Conv2dGeometry& g, Tensor& dw) {
    visit_float(dy.dtype(), "conv2d_backward_weight", [&](auto tag) {
        using T = decltype(tag);
        backward_weight<T>(dims_of(x.shape(), dw.shape(), dy.shape(), g), g, x.data<T>(), dy.data<T>(), dw.data<T>());
    });
}

void conv2d_backward_bias(const Tensor& dy, Tensor& db) {
    visit_float(dy.dtype(), "conv2d_backward_bias", [&](auto tag) { backward_bias<decltype(tag)>(dy, db); });
}

}  // namespace gs::kernels::cpu
