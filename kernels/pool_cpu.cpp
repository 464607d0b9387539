// CPU pooling loops: one (n, c) plane per OpenMP iteration, so every output and every input
// gradient element is written by one thread in a fixed order.
#include <algorithm>
#include <cstdint>
#include <limits>
#include <type_traits>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "kernels/pool.h"
#include "kernels/scratch.h"

namespace gs::kernels::cpu {
namespace {

using i64 = std::int64_t;

// Plane sizes of a pooling problem.
struct PoolDims {
    i64 planes, H, W, OH, OW;
};

PoolDims dims_of(const Shape& xs, const Shape& ys) { return {xs[0] * xs[1], xs[2], xs[3], ys[2], ys[3]}; }

bool parallel(const PoolDims& d) { return d.planes > 1 && d.planes * d.H * d.W >= 32768; }

// The window of output (oh, ow) clipped to the input: rows [h0, h1), cols [w0, w1).
using Window = Pool2dGeometry::Window;

Window window(const Pool2dGeometry& g, const PoolDims& d, i64 oh, i64 ow) { return g.window(oh, ow, d.H, d.W); }

// Calls f(o, w) for every output o = oh * OW + ow of one plane, in row-major order, with its
// clipped window w. Max and avg pooling, forward and backward, all walk the windows this way; only
// what they do per window differs.
template <class F>
void for_each_window(const Pool2dGeometry& g, const PoolDims& d, F&& f) {
    for (i64 oh = 0; oh < d.OH; ++oh)
        for (i64 ow = 0; ow < d.OW; ++ow) f(oh * d.OW + ow, window(g, d, oh, ow));
}

// Calls f(i) for the in-plane offset i = ih * W + iw of every input pixel of window w, row by row.
template <class F>
void for_each_pixel(const Window& w, i64 W, F&& f) {
    for (i64 ih = w.h0; ih < w.h1; ++ih)
        for (i64 iw = w.w0; iw < w.w1; ++iw) f(ih * W + iw);
}

#if defined(__SSE2__)
// f32 3x3 windows at stride 2 (alexnet_small's pools): four outputs of a row at once. The three
// columns of four stride-2 windows are the even lanes, the odd lanes, and the even lanes two
// floats on, of two 4-float loads each (10 floats of each row from `at`). Each output still takes
// its window's pixels in row-major order with a strict ">", so ties keep the first index, as
// MaxPoolStep does. Returns false (and writes nothing) when the 4 windows hold a NaN, for the
// scalar scan to propagate it, and when a window's maximum is -inf (its index must then be its first
// real pixel, which the scan finds). `at` is the top-left pixel of the first window, in rows
// `stride` apart; `first` its in-plane index in a plane W wide (`at` may point into a padded copy
// of the plane: the indices are always the plane's).
bool max4_3x3_stride2(const float* at, i64 stride, i64 W, std::int32_t first, float* out, i64* idx) {
    __m128 best = _mm_setzero_ps(), nan = _mm_setzero_ps();
    __m128i bi = _mm_setzero_si128();
    const __m128i lanes = _mm_set_epi32(6, 4, 2, 0);  // lane t's window starts 2t columns on
    for (int r = 0; r < 3; ++r) {
        const float* row = at + r * stride;
        const __m128 a = _mm_loadu_ps(row), b = _mm_loadu_ps(row + 4), c = _mm_loadu_ps(row + 2),
                     e = _mm_loadu_ps(row + 6);
        const __m128 cols[3] = {_mm_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)), _mm_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1)),
                                _mm_shuffle_ps(c, e, _MM_SHUFFLE(2, 0, 2, 0))};
        for (int s = 0; s < 3; ++s) {
            const __m128 v = cols[s];
            const __m128i i = _mm_add_epi32(_mm_set1_epi32(first + std::int32_t(r * W + s)), lanes);
            nan = _mm_or_ps(nan, _mm_cmpunord_ps(v, v));
            if (r == 0 && s == 0) {
                best = v, bi = i;
                continue;
            }
            const __m128 take = _mm_cmpgt_ps(v, best);
            best = _mm_or_ps(_mm_and_ps(take, v), _mm_andnot_ps(take, best));
            const __m128i t = _mm_castps_si128(take);
            bi = _mm_or_si128(_mm_and_si128(t, i), _mm_andnot_si128(t, bi));
        }
    }
    const __m128 ninf = _mm_cmpeq_ps(best, _mm_set1_ps(-std::numeric_limits<float>::infinity()));
    if (_mm_movemask_ps(_mm_or_ps(nan, ninf)) != 0) return false;
    _mm_storeu_ps(out, best);
    alignas(16) std::int32_t b[4];
    _mm_store_si128(reinterpret_cast<__m128i*>(b), bi);
    for (int t = 0; t < 4; ++t) idx[t] = b[t];
    return true;
}
#endif

template <class T>
void max_forward(const Tensor& x, const Pool2dGeometry& g, Tensor& y, Tensor& indices) {
    const PoolDims d = dims_of(x.shape(), y.shape());
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    i64* I = indices.data<i64>();
    const MaxPoolStep step;
    const MaxPoolStepNoNan fast_step;
    // One window, pixel by pixel; NaN-propagating when it holds a NaN.
    auto scan = [&](const T* in, const Window& w, T& best, i64& best_i) {
        best = -std::numeric_limits<T>::infinity();
        best_i = w.h0 * d.W + w.w0;  // a real pixel: valid even if all are -inf
        bool seen_nan = false;
        for_each_pixel(w, d.W, [&](i64 i) { fast_step(in[i], i, best, best_i, seen_nan); });
        if (seen_nan) {
            // Rare: rescan with the NaN-propagating step.
            best = -std::numeric_limits<T>::infinity();
            best_i = w.h0 * d.W + w.w0;
            for_each_pixel(w, d.W, [&](i64 i) { step(in[i], i, best, best_i); });
        }
    };
    // The vector path: f32, 3x3 at column stride 2, rows of at least 4 outputs, in-plane indices
    // that fit 32 bits. It runs on a copy of each plane framed by -inf (the padding, and enough
    // columns on the right for the kernel's 10-float loads), so the edge windows take it too: on a
    // 28x28 plane pooled to 14x14 they are a fifth of the outputs, and one by one they took about
    // half the time.
    [[maybe_unused]] const bool quad = std::is_same_v<T, float> && g.kernel_h == 3 && g.kernel_w == 3 &&
                                       g.stride_w == 2 && d.OW >= 4 && d.H * d.W < (i64(1) << 31);
    // The framed plane: row i + pad_h holds input row i from column pad_w; window (oh, ow) starts
    // at row oh * stride_h, column 2 * ow.
    const i64 FH = std::max(d.H + g.pad_h, (d.OH - 1) * g.stride_h + 3), FW = std::max(d.W + g.pad_w, 2 * d.OW + 2);
#pragma omp parallel for if (parallel(d)) schedule(static)
    for (i64 p = 0; p < d.planes; ++p) {
        const T* in = X + p * d.H * d.W;
        T* out = Y + p * d.OH * d.OW;
        i64* idx = I + p * d.OH * d.OW;
#if defined(__SSE2__)
        if constexpr (std::is_same_v<T, float>) {
            if (quad) {
                float* frame = thread_scratch(ScratchSlot::staging).get<float>(std::size_t(FH * FW));
                const float ninf = -std::numeric_limits<float>::infinity();
                for (i64 r = 0; r < FH; ++r) {
                    float* row = frame + r * FW;
                    const i64 ih = r - g.pad_h;
                    if (ih < 0 || ih >= d.H) {
                        std::fill(row, row + FW, ninf);
                        continue;
                    }
                    std::fill(row, row + g.pad_w, ninf);
                    std::copy(in + ih * d.W, in + (ih + 1) * d.W, row + g.pad_w);
                    std::fill(row + g.pad_w + d.W, row + FW, ninf);
                }
                for (i64 oh = 0; oh < d.OH; ++oh) {
                    // Four outputs at a time; the last four end at the row's end (overlapping the
                    // previous ones when OW is not a multiple of 4).
                    for (i64 ow0 = 0; ow0 < d.OW; ow0 += 4) {
                        const i64 ow = std::min(ow0, d.OW - 4);
                        const std::int32_t first = std::int32_t(g.start_h(oh) * d.W + g.start_w(ow));
                        if (!max4_3x3_stride2(frame + oh * g.stride_h * FW + 2 * ow, FW, d.W, first,
                                              out + oh * d.OW + ow, idx + oh * d.OW + ow))
                            for (i64 t = ow; t < ow + 4; ++t)
                                scan(in, window(g, d, oh, t), out[oh * d.OW + t], idx[oh * d.OW + t]);
                    }
                }
                continue;
            }
        }
#endif
        for_each_window(g, d, [&](i64 o, const Window& w) { scan(in, w, out[o], idx[o]); });
    }
}

template <class T>
void max_backward(const Tensor& dy, const Tensor& indices, Tensor& dx) {
    const PoolDims d = dims_of(dx.shape(), dy.shape());
    const T* DY = dy.data<T>();
    const i64* I = indices.data<i64>();
    T* DX = dx.data<T>();
#pragma omp parallel for if (parallel(d)) schedule(static)
    for (i64 p = 0; p < d.planes; ++p) {
        T* out = DX + p * d.H * d.W;
        std::fill(out, out + d.H * d.W, T(0));
        const i64 o0 = p * d.OH * d.OW;
        for (i64 o = 0; o < d.OH * d.OW; ++o) out[I[o0 + o]] += DY[o0 + o];
    }
}

// A window one column wide that moves one column at a time (e.g. a window over channels, pooled
// as (N, 1, C, H*W)): output row oh is the sum of whole input rows, so the loops
// run along rows and vectorize. The pixels of each window are still visited in the same order.
bool column_window(const Pool2dGeometry& g) { return g.kernel_w == 1 && g.stride_w == 1 && g.pad_w == 0; }

template <class T>
void avg_forward(const Tensor& x, const Pool2dGeometry& g, bool include_pad, Tensor& y) {
    const PoolDims d = dims_of(x.shape(), y.shape());
    const T* X = x.data<T>();
    T* Y = y.data<T>();
    const AvgPoolDivisor divisor;
    const bool by_rows = column_window(g);
#pragma omp parallel for if (parallel(d)) schedule(static)
    for (i64 p = 0; p < d.planes; ++p) {
        const T* in = X + p * d.H * d.W;
        T* out = Y + p * d.OH * d.OW;
        if (by_rows) {
            for (i64 oh = 0; oh < d.OH; ++oh) {
                const Window w = window(g, d, oh, 0);
                const T div = T(divisor(g, include_pad, w.h0, w.h1, 0, 1));
                T* o = out + oh * d.OW;
                std::fill(o, o + d.OW, T(0));
                for (i64 ih = w.h0; ih < w.h1; ++ih)
                    for (i64 ow = 0; ow < d.OW; ++ow) o[ow] += in[ih * d.W + ow];
                for (i64 ow = 0; ow < d.OW; ++ow) o[ow] /= div;
            }
            continue;
        }
        for_each_window(g, d, [&](i64 o, const Window& w) {
            T s = T(0);
            for_each_pixel(w, d.W, [&](i64 i) { s += in[i]; });
            out[o] = s / T(divisor(g, include_pad, w.h0, w.h1, w.w0, w.w1));
        });
    }
}

template <class T>
void avg_backward(const Tensor& dy, const Pool2dGeometry& g, bool include_pad, Tensor& dx) {
    const PoolDims d = dims_of(dx.shape(), dy.shape());
    const T* DY = dy.data<T>();
    T* DX = dx.data<T>();
    const AvgPoolDivisor divisor;
#pragma omp parallel for if (parallel(d)) schedule(static)
    for (i64 p = 0; p < d.planes; ++p) {
        const T* dout = DY + p * d.OH * d.OW;
        T* out = DX + p * d.H * d.W;
        std::fill(out, out + d.H * d.W, T(0));
        if (column_window(g)) {
            for (i64 oh = 0; oh < d.OH; ++oh) {
                const Window w = window(g, d, oh, 0);
                const T div = T(divisor(g, include_pad, w.h0, w.h1, 0, 1));
                const T* go = dout + oh * d.OW;
                for (i64 ih = w.h0; ih < w.h1; ++ih)
                    for (i64 ow = 0; ow < d.OW; ++ow) out[ih * d.W + ow] += go[ow] / div;
            }
            continue;
        }
        for_each_window(g, d, [&](i64 o, const Window& w) {
            const T share = dout[o] / T(divisor(g, include_pad, w.h0, w.h1, w.w0, w.w1));
            for_each_pixel(w, d.W, [&](i64 i) { out[i] += share; });
        });
    }
}

}  // namespace

void max_pool2d_forward(const Tensor& x, const Pool2dGeometry& g, Tensor& y, Tensor& indices) {
    visit_float(x.dtype(), "max_pool2d_forward", [&](auto tag) { max_forward<decltype(tag)>(x, g, y, indices); });
}

void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx) {
    visit_float(dy.dtype(), "max_pool2d_backward", [&](auto tag) { max_backward<decltype(tag)>(dy, indices, dx); });
}

void avg_pool2d_forward(const Tensor& x, const Pool2dGeometry& g, bool count_include_pad, Tensor& y) {
    visit_float(x.dtype(), "avg_pool2d_forward",
                [&](auto tag) { avg_forward<decltype(tag)>(x, g, count_include_pad, y); });
}

void avg_pool2d_backward(const Tensor& dy, const Pool2dGeometry& g, bool count_include_pad, Tensor& dx) {
    visit_float(dy.dtype(), "avg_pool2d_backward",
                [&](auto tag) { avg_backward<decltype(tag)>(dy, g, count_include_pad, dx); });
}

}  // namespace gs::kernels::cpu
