// Winograd F(2x2, 3x3) and F(2x2, 5x5) (Lavin & Gray 2016) for the CPU convolution; see
// conv2d_winograd.h. Written for F(2x2, 3x3) below; F(2x2, 5x5) is the same with 6x6 blocks (the
// transforms: struct F25).
//
// Output tile (th, tw) of an image covers outputs rows 2th..2th+1, columns 2tw..2tw+1, and reads the
// 4x4 input block d at rows 2th - pad_h.., columns 2tw - pad_w.. (zero outside the image). With
//   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
//   A^T = [1 1 1 0; 0 1 -1 -1],
// the filter g of output channel k and input channel c becomes U = G g G^T, the block d of channel c
// becomes V = B^T d B, and the outputs are A^T (sum_c U_kc .* V_c) A. The sum over c, for each of the
// 16 entries xi of the 4x4 products, is a gemm: M_xi (Kg x tiles) = U_xi (Kg x Cg) * V_xi (Cg x tiles).
//
// A filter larger than the algorithm's (3x5, 7x7, ...; winograd_applies says which pay) is cut into
// 3x3 blocks, zero-padded at its far edges: block (a, b) holds taps r = 3a.., s = 3b.. and reads the
// input shifted by (3a, 3b). Each (channel, block) pair is then a "virtual channel" of a 3x3
// convolution.
//
// The tiles of the whole batch are processed in blocks of a few gemm micro-panels, each block by
// one thread: its V is written straight into gemm's packed-B layout, the 16 (36) gemms multiply it
// by the filters (transformed and packed once per call), and the output transform writes y. A
// block's V and M stay in L2.
#include "kernels/conv2d_winograd.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/scratch.h"

namespace gs::kernels::cpu {
namespace {

using i64 = std::int64_t;

std::atomic<bool> g_winograd_enabled{true};

// The transforms cost per channel and tile, the products they save per channel pair: with few
// channels on either side they do not pay. 16 is a cut between the stem's 3 input channels (left
// to im2col) and the narrowest layers measured faster here (32 channels); not tuned further.
constexpr i64 kMinChannels = 16;

// The weight gradient sums over tiles, which are the gemms' inner dimension here: blocks of this
// many tiles keep a kc x NR micro-panel within L1 (16 KiB for f32 on AVX2).
constexpr i64 kGradTiles = 128;

// The two Winograd algorithms, as their 1-D transforms; the 2-D ones apply them down the columns,
// then along the rows. Both make 2 outputs per axis; they differ in the taps they cover:
// - F(2, 3), alpha = 4 (points 0, 1, -1, inf): B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],
//   G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1], A^T = [1 1 1 0; 0 1 -1 -1].
// - F(2, 5), alpha = 6 (points 0, 1, -1, 2, -2, inf), derived by the Toom-Cook construction:
//   B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0; 0 2 -1 -2 1 0; 0 4 0 -5 0 1],
//   G = [1/4 0 0 0 0; -1/6 x5; -1/6 1/6 -1/6 1/6 -1/6; (1 2 4 8 16)/24; (1 -2 4 -8 16)/24; 0 0 0 0 1],
//   A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 1].
// A 5x5 filter through F(2, 5) takes 36 products per 2x2 tile and channel pair, against 64 as four
// 3x3 blocks of F(2, 3) and 100 directly.
struct F23 {
    static constexpr int kTaps = 3, kAlpha = 4;
    template <class T>
    static void input(const T* d, T* v) {  // v = B^T d
        v[0] = d[0] - d[2], v[1] = d[1] + d[2], v[2] = d[2] - d[1], v[3] = d[1] - d[3];
    }
    template <class T>
    static void filter(const T* g, T* u) {  // u = G g
        u[0] = g[0], u[1] = T(0.5) * (g[0] + g[1] + g[2]), u[2] = T(0.5) * (g[0] - g[1] + g[2]), u[3] = g[2];
    }
    template <class T>
    static void output(const T* m, T* y) {  // y = A^T m
        y[0] = m[0] + m[1] + m[2], y[1] = m[1] - m[2] - m[3];
    }
    // The adjoints, for the weight gradient: m = A y, g = G^T u.
    template <class T>
    static void output_adjoint(const T* y, T* m) {
        m[0] = y[0], m[1] = y[0] + y[1], m[2] = y[0] - y[1], m[3] = -y[1];
    }
    template <class T>
    static void filter_adjoint(const T* u, T* g) {
        const T h = T(0.5) * (u[1] + u[2]);
        g[0] = u[0] + h, g[1] = T(0.5) * (u[1] - u[2]), g[2] = h + u[3];
    }
};

struct F25 {
    static constexpr int kTaps = 5, kAlpha = 6;
    template <class T>
    static void input(const T* d, T* v) {
        const T a = d[4] - T(4) * d[2], b = d[3] - T(4) * d[1];  // shared by v1, v2
        const T c = d[4] - d[2], e = T(2) * (d[3] - d[1]);       // shared by v3, v4
        v[0] = T(4) * d[0] - T(5) * d[2] + d[4];
        v[1] = a + b, v[2] = a - b;
        v[3] = c + e, v[4] = c - e;
        v[5] = T(4) * d[1] - T(5) * d[3] + d[5];
    }
    template <class T>
    static void filter(const T* g, T* u) {
        const T even = g[0] + g[2] + g[4], odd = g[1] + g[3];
        const T even4 = g[0] + T(4) * g[2] + T(16) * g[4], odd4 = T(2) * g[1] + T(8) * g[3];
        u[0] = T(0.25) * g[0];
        constexpr T k6 = T(1.0 / 6), k24 = T(1.0 / 24);
        u[1] = -(even + odd) * k6, u[2] = -(even - odd) * k6;
        u[3] = (even4 + odd4) * k24, u[4] = (even4 - odd4) * k24;
        u[5] = g[4];
    }
    template <class T>
    static void output(const T* m, T* y) {
        y[0] = m[0] + m[1] + m[2] + m[3] + m[4], y[1] = m[1] - m[2] + T(2) * (m[3] - m[4]) + m[5];
    }
    template <class T>
    static void output_adjoint(const T* y, T* m) {
        m[0] = y[0], m[1] = y[0] + y[1], m[2] = y[0] - y[1], m[3] = y[0] + T(2) * y[1], m[4] = y[0] - T(2) * y[1];
        m[5] = y[1];
    }
    template <class T>
    static void filter_adjoint(const T* u, T* g) {
        // Products with the reciprocals: divisions cost as much as the rest of the per-example pass.
        constexpr T k6 = T(1.0 / 6), k3 = T(1.0 / 3), k12 = T(1.0 / 12), k24 = T(1.0 / 24);
        const T s12 = (u[1] + u[2]) * k6, d12 = (u[2] - u[1]) * k6, s34 = u[3] + u[4], d34 = u[3] - u[4];
        g[0] = T(0.25) * u[0] - s12 + s34 * k24;
        g[1] = d12 + d34 * k12;
        g[2] = -s12 + s34 * k6;
        g[3] = d12 + d34 * k3;
        g[4] = -s12 + T(2) * s34 * k3 + u[5];
    }
};

// U = G g G^T for one kTaps x kTaps filter g (row-major), as alpha^2 values u[alpha*i + j].
template <class Tr, class T>
void filter_transform(const T* g, T* u) {
    constexpr int a = Tr::kAlpha, r = Tr::kTaps;
    T t[a][r];  // G g
    for (int j = 0; j < r; ++j) {
        T col[r], out[a];
        for (int i = 0; i < r; ++i) col[i] = g[i * r + j];
        Tr::filter(col, out);
        for (int i = 0; i < a; ++i) t[i][j] = out[i];
    }
    for (int i = 0; i < a; ++i) Tr::filter(t[i], u + a * i);
}

// Where one tile of a block reads and writes.
struct TileAt {
    i64 image, h0, w0;  // its image; its input block's top-left corner for filter block (0, 0)
    i64 oh, ow;         // its first output
};

// The taps x taps blocks of an R x S filter, and the virtual channels (channel c, block (a, b))
// numbered v = c*blocks() + a*bw + b.
struct FilterBlocks {
    i64 R, S, taps, bh, bw;
    FilterBlocks(i64 R_, i64 S_, i64 taps_)
        : R(R_), S(S_), taps(taps_), bh((R_ + taps_ - 1) / taps_), bw((S_ + taps_ - 1) / taps_) {}
    i64 blocks() const { return bh * bw; }
    // Virtual channel v: its input channel c (within the group) and its block (a, b), which reads
    // the input shifted by (taps*a, taps*b).
    struct Virtual {
        i64 c, a, b;
    };
    Virtual at(i64 v) const { return {v / blocks(), (v % blocks()) / bw, (v % blocks()) % bw}; }
    // Block (a, b) of filter f (R x S, row-major) into g (taps x taps), zero past the filter's edges.
    template <class T>
    void block(const T* f, i64 a, i64 b, T* g) const {
        for (i64 i = 0; i < taps; ++i)
            for (i64 j = 0; j < taps; ++j) {
                const i64 r = taps * a + i, s = taps * b + j;
                g[taps * i + j] = r < R && s < S ? f[r * S + s] : T(0);
            }
    }
};

// The tiles [t0, t0 + nt) of the batch (per_image = TH*TW each), in order.
void locate_tiles(i64 t0, i64 nt, i64 per_image, i64 TW, const Conv2dGeometry& g, TileAt* at) {
    for (i64 j = 0; j < nt; ++j) {
        const i64 t = t0 + j, rem = t % per_image, th = rem / TW, tw = rem % TW;
        TileAt& a = at[j];
        a.image = t / per_image, a.oh = 2 * th, a.ow = 2 * tw;
        a.h0 = a.oh - g.pad_h, a.w0 = a.ow - g.pad_w;
    }
}

// A run of a block's tiles: `len` consecutive tiles j0.. of one tile row of one image, all within
// one gemm micro-panel (so their packed columns are contiguous). The transforms work a run at a
// time, vectorized across its tiles.
struct TileRun {
    i64 j0, len;
};
constexpr i64 kMaxRun = 32;  // the widest micro-panel (AVX-512 f32)

int tile_runs(const TileAt* at, i64 nt, i64 NR, TileRun* runs) {
    int n = 0;
    for (i64 j = 0; j < nt; ++j) {
        const bool extends = n > 0 && j % NR != 0 && at[j].image == at[j - 1].image && at[j].oh == at[j - 1].oh &&
                             at[j].ow == at[j - 1].ow + 2;
        if (extends)
            ++runs[n - 1].len;
        else
            runs[n++] = {j, 1};
    }
    return n;
}

// V = B^T d B of `len` consecutive tiles of one tile row, whose alpha x alpha input blocks start at
// (h0, w0 + 2*jj) in a channel plane (H x W), zero outside it: tile jj's v[xi] goes to
// v[xi*ld + jj*ts]. `zeros` holds at least W zeros (the rows above and below the image). The
// columns are first combined down the alpha rows (B^T d), then across (.. B) at stride 2.
template <class Tr, class T>
void tile_row_input(const T* plane, i64 H, i64 W, i64 h0, i64 w0, i64 len, const T* zeros, T* v, i64 ld, i64 ts) {
    constexpr int A = Tr::kAlpha;
    const i64 cols = 2 * len + A - 2;
    T t[A][2 * kMaxRun + A - 2];
    const T* row[A];
    for (int i = 0; i < A; ++i) row[i] = ((h0 + i >= 0 && h0 + i < H) ? plane + (h0 + i) * W : zeros) + w0;  // by x >= lo
    const i64 lo = std::clamp<i64>(-w0, 0, cols), hi = std::clamp<i64>(W - w0, lo, cols);
    for (int i = 0; i < A; ++i) {
        std::fill(t[i], t[i] + lo, T(0));
        std::fill(t[i] + hi, t[i] + cols, T(0));
    }
    for (i64 x = lo; x < hi; ++x) {
        T d[A], o[A];
        for (int i = 0; i < A; ++i) d[i] = row[i][x];
        Tr::input(d, o);
        for (int i = 0; i < A; ++i) t[i][x] = o[i];
    }
    for (int i = 0; i < A; ++i) {
        T* vi = v + (A * i) * ld;
        for (i64 jj = 0; jj < len; ++jj) {
            T o[A];
            Tr::input(t[i] + 2 * jj, o);
            for (int j = 0; j < A; ++j) vi[j * ld + jj * ts] = o[j];
        }
    }
}

// The outputs A^T m A + bias of `len` consecutive tiles of one tile row, from their products
// m[xi*ld + jj], into rows oh and oh + 1 of an output plane (OH x OW) from column ow0, clipped.
template <class Tr, class T>
void tile_row_output(const T* m, i64 ld, i64 len, T bias, T* plane, i64 OH, i64 OW, i64 oh, i64 ow0) {
    constexpr int A = Tr::kAlpha;
    T y0[2 * kMaxRun], y1[2 * kMaxRun];
    for (i64 jj = 0; jj < len; ++jj) {
        T s0[A], s1[A];  // the two rows of A^T m
        for (int j = 0; j < A; ++j) {
            T col[A], y[2];
            for (int i = 0; i < A; ++i) col[i] = m[(A * i + j) * ld + jj];
            Tr::output(col, y);
            s0[j] = y[0], s1[j] = y[1];
        }
        T r0[2], r1[2];
        Tr::output(s0, r0);
        Tr::output(s1, r1);
        y0[2 * jj] = r0[0] + bias, y0[2 * jj + 1] = r0[1] + bias;
        y1[2 * jj] = r1[0] + bias, y1[2 * jj + 1] = r1[1] + bias;
    }
    const i64 n = std::min(2 * len, OW - ow0);
    std::copy(y0, y0 + n, plane + oh * OW + ow0);
    if (oh + 1 < OH) std::copy(y1, y1 + n, plane + (oh + 1) * OW + ow0);
}

// Tiles per block: whole micro-panels of NR, as many as keep the block's V (alpha^2 x Cg) and M
// (alpha^2 x Kg) within about 384 KiB of L2, at most 8 panels.
i64 block_tiles(i64 alpha, i64 Cg, i64 Kg, i64 NR, std::size_t elem_bytes) {
    const i64 per_tile = alpha * alpha * (Cg + Kg) * i64(elem_bytes);
    const i64 panels = std::clamp<i64>((384 * 1024) / (per_tile * NR), 1, 8);
    return panels * NR;
}

// Elements between consecutive ones of the 16 planes of V or M, at least `elems`: an odd number of
// cache lines, so that the 16 values of one tile, stored or loaded together, fall in 16 different
// L1 sets. (With plane sizes that are multiples of 4 KiB they all hit one set, and 3x3 64->48 ran
// no faster than im2col.)
template <class T>
i64 plane_stride(i64 elems) {
    constexpr i64 line = 64 / i64(sizeof(T));
    i64 lines = (elems + line - 1) / line;
    if (lines % 2 == 0) ++lines;
    return lines * line;
}

}  // namespace

bool winograd_applies(const WinogradShape& s, const Conv2dGeometry& g) {
    if (!g_winograd_enabled.load(std::memory_order_relaxed) || g.stride_h != 1 || g.stride_w != 1 || g.dil_h != 1 ||
        g.dil_w != 1 || s.C / s.G < kMinChannels || s.K / s.G < kMinChannels)
        return false;
    // Products per output and channel pair: R*S directly, 16/4 = 4 per 3x3 block of F(2, 3), 36/4 = 9
    // for a 5x5 filter through F(2, 5). Taken from 1.5x fewer: 3x3 2.25x, 5x5 2.78x (1.56x as 3x3
    // blocks, which its weight gradient uses), 3x5 1.88x; not 7x7 (1.36x), nor 2x2 or 4x4 (1x).
    const FilterBlocks fb(s.R, s.S, 3);
    return double(s.R * s.S) >= 1.5 * 4.0 * double(fb.blocks());
}

bool winograd_backward_weight_applies(const WinogradShape& s, const Conv2dGeometry& g) {
    // Each block of tiles is one set of 16 (36) gemms with the tiles as the inner dimension, and
    // every block reads and writes all of dU. Through 3x3 blocks, with fewer tiles than a block (one
    // 14x14 image: 49), the dU traffic outweighed the saved products and im2col + gemm (inner
    // dimension OH*OW) was faster. F(2x2, 5x5) pays even there: one 14x14 image of alexnet_small's
    // 64->64 layer, per example, took 30-31 ms for the batch against 36-37 through im2col.
    return winograd_applies(s, g) && (winograd_uses_f25(s) || s.N * ((s.OH + 1) / 2) * ((s.OW + 1) / 2) >= kGradTiles);
}

bool winograd_uses_f25(const WinogradShape& s) { return s.R == 5 && s.S == 5; }

void set_conv2d_winograd(bool enabled) { g_winograd_enabled.store(enabled); }

namespace {

// winograd_forward through the algorithm Tr: the filters cut into Tr::kTaps-square blocks.
template <class Tr, class T>
void forward_tiles(const WinogradShape& s, const Conv2dGeometry& g, const T* X, const T* Wt, const T* B, T* Y) {
    constexpr int A = Tr::kAlpha, XI = A * A, taps = Tr::kTaps;
    const GemmTile tile = gemm_tile<T>();
    const FilterBlocks fb(s.R, s.S, taps);
    const i64 Kg = s.K / s.G, OP = s.OH * s.OW, RS = s.R * s.S;
    const i64 Cg = (s.C / s.G) * fb.blocks();  // virtual channels per group: the gemms' inner size
    const i64 TH = (s.OH + 1) / 2, TW = (s.OW + 1) / 2, per_image = TH * TW, tiles = s.N * per_image;
    const i64 NR = tile.nr, MR = tile.mr, Mp = (Kg + MR - 1) / MR * MR;

    // U_xi of group gi in gemm's packed-A layout (Kg x Cg) at upk + (gi*XI + xi)*Mp*Cg; the rows past
    // Kg stay zero.
    T* upk = thread_scratch(ScratchSlot::packed_weights).get<T>(std::size_t(s.G * XI * Mp * Cg));
    std::fill(upk, upk + s.G * XI * Mp * Cg, T(0));
    for (i64 gi = 0; gi < s.G; ++gi)
        for (i64 k = 0; k < Kg; ++k)
            for (i64 v = 0; v < Cg; ++v) {
                T gb[taps * taps], u[XI];
                const FilterBlocks::Virtual vc = fb.at(v);
                fb.block(Wt + ((gi * Kg + k) * (s.C / s.G) + vc.c) * RS, vc.a, vc.b, gb);
                filter_transform<Tr>(gb, u);
                T* at = upk + gi * XI * Mp * Cg + (k / MR) * MR * Cg + v * MR + k % MR;
                for (int xi = 0; xi < XI; ++xi) at[xi * Mp * Cg] = u[xi];
            }

    const std::vector<T> zeros(std::size_t(s.W), T(0));  // the rows outside the image
    const i64 tb = block_tiles(A, Cg, Kg, NR, sizeof(T)), blocks = (tiles + tb - 1) / tb;
    const bool parallel = blocks > 1 && omp_get_max_threads() > 1 && !omp_in_parallel();
#pragma omp parallel for if (parallel) schedule(static)
    for (i64 blk = 0; blk < blocks; ++blk) {
        const i64 t0 = blk * tb, nt = std::min(tb, tiles - t0), ntp = (nt + NR - 1) / NR * NR;
        // V_xi (Cg x ntp, packed B) at V + xi*vs; M_xi (Kg x tb, row-major) at M + xi*ms.
        const i64 vs = plane_stride<T>(Cg * tb), ms = plane_stride<T>(Kg * tb);
        T* V = thread_scratch(ScratchSlot::columns).get<T>(std::size_t(XI * vs));
        T* M = thread_scratch(ScratchSlot::staging).get<T>(std::size_t(XI * ms));
        TileAt at[8 * kMaxRun];  // block_tiles caps a block at 8 panels of at most 32 columns
        TileRun runs[8 * kMaxRun];
        locate_tiles(t0, nt, per_image, TW, g, at);
        const int nruns = tile_runs(at, nt, NR, runs);
        for (i64 gi = 0; gi < s.G; ++gi) {
            for (i64 c = 0; c < Cg; ++c) {
                const FilterBlocks::Virtual vc = fb.at(c);
                const i64 channel = gi * (s.C / s.G) + vc.c;
                for (int q = 0; q < nruns; ++q) {
                    const TileRun& r = runs[q];
                    const TileAt& a = at[r.j0];
                    tile_row_input<Tr>(X + (a.image * s.C + channel) * s.H * s.W, s.H, s.W, a.h0 + taps * vc.a,
                                       a.w0 + taps * vc.b, r.len, zeros.data(),
                                       V + (r.j0 / NR) * NR * Cg + c * NR + r.j0 % NR, vs, i64(1));
                }
                for (i64 j = nt; j < ntp; ++j)  // packed panels are zero past their columns
                    for (int xi = 0; xi < XI; ++xi) V[xi * vs + (j / NR) * NR * Cg + c * NR + j % NR] = T(0);
            }
            for (int xi = 0; xi < XI; ++xi)
                gemm_packed(tile, Kg, nt, Cg, T(1), upk + (gi * XI + xi) * Mp * Cg, V + xi * vs, T(0), M + xi * ms,
                            tb);
            for (i64 k = 0; k < Kg; ++k) {
                const i64 channel = gi * Kg + k;
                const T bias = B ? B[channel] : T(0);
                for (int q = 0; q < nruns; ++q) {
                    const TileRun& r = runs[q];
                    const TileAt& a = at[r.j0];
                    tile_row_output<Tr>(M + k * tb + r.j0, ms, r.len, bias, Y + (a.image * s.K + channel) * OP, s.OH,
                                        s.OW, a.oh, a.ow);
                }
            }
        }
    }
}

}  // namespace

template <class T>
void winograd_forward(const WinogradShape& s, const Conv2dGeometry& g, const T* X, const T* Wt, const T* B, T* Y) {
    if (winograd_uses_f25(s)) return forward_tiles<F25>(s, g, X, Wt, B, Y);
    forward_tiles<F23>(s, g, X, Wt, B, Y);
}

namespace {

// dM = A dY A^T: the gradient of one tile's alpha^2 products from its 2x2 output gradient dy.
template <class Tr, class T>
void output_gradient_transform(const T (&dy)[2][2], T* q) {
    constexpr int A = Tr::kAlpha;
    T r[A][2];  // A dY
    for (int j = 0; j < 2; ++j) {
        const T col[2] = {dy[0][j], dy[1][j]};
        T out[A];
        Tr::output_adjoint(col, out);
        for (int i = 0; i < A; ++i) r[i][j] = out[i];
    }
    for (int i = 0; i < A; ++i) Tr::output_adjoint(r[i], q + A * i);
}

// As for im2col's weight gradient: the tiles are cut into a number of chunks that depends only on
// the shapes, each sums its blocks in order into its own partial dU, and the partials are added in
// chunk order, so dw does not depend on the thread count.
constexpr i64 kMaxGradChunks = 8;
constexpr i64 kGradPartialBudget = i64(1) << 24;  // elements of partial sums held at once

}  // namespace

namespace {

// winograd_backward_weight through the algorithm Tr.
template <class Tr, class T>
void backward_weight_tiles(const WinogradShape& s, const Conv2dGeometry& g, const T* X, const T* DY, T* DW) {
    constexpr int AL = Tr::kAlpha, XI = AL * AL, taps = Tr::kTaps;
    const GemmTile tile = gemm_tile<T>();
    const FilterBlocks fb(s.R, s.S, taps);
    const i64 Kg = s.K / s.G, OP = s.OH * s.OW, RS = s.R * s.S;
    const i64 Cg = (s.C / s.G) * fb.blocks();  // virtual channels per group
    const i64 TH = (s.OH + 1) / 2, TW = (s.OW + 1) / 2, per_image = TH * TW, tiles = s.N * per_image;
    const i64 NR = tile.nr, MR = tile.mr, Mp = (Kg + MR - 1) / MR * MR, Np = (Cg + NR - 1) / NR * NR;
    const i64 usize = XI * Kg * Cg;  // dU of one group: dU_xi (Kg x Cg) at + xi*Kg*Cg
    if (tiles == 0) {
        std::fill(DW, DW + s.K * (s.C / s.G) * RS, T(0));
        return;
    }
    const i64 chunks = std::clamp<i64>(std::min(kMaxGradChunks, kGradPartialBudget / (s.G * usize)), 1,
                                       (tiles + kGradTiles - 1) / kGradTiles);
    T* partials = thread_scratch(ScratchSlot::partials).get<T>(std::size_t(chunks * s.G * usize));
    const std::vector<T> zeros(std::size_t(s.W), T(0));  // the rows outside the image
    const bool parallel = chunks > 1 && omp_get_max_threads() > 1 && !omp_in_parallel();
#pragma omp parallel for if (parallel) schedule(static)
    for (i64 ch = 0; ch < chunks; ++ch) {
        const i64 c0 = ch * tiles / chunks, c1 = (ch + 1) * tiles / chunks;  // at least one tile each
        T* acc = partials + ch * s.G * usize;
        // dM_xi (Kg x nt) as packed A at A + xi*as_; V_xi^T (nt x Cg) as packed B at B + xi*bs.
        const i64 as_ = plane_stride<T>(Mp * kGradTiles), bs = plane_stride<T>(Np * kGradTiles);
        T* A = thread_scratch(ScratchSlot::staging).get<T>(std::size_t(XI * as_));
        T* B = thread_scratch(ScratchSlot::columns).get<T>(std::size_t(XI * bs));
        TileAt at[kGradTiles];
        TileRun runs[kGradTiles];
        for (i64 t0 = c0; t0 < c1; t0 += kGradTiles) {
            const i64 nt = std::min(kGradTiles, c1 - t0);
            locate_tiles(t0, nt, per_image, TW, g, at);
            const int nruns = tile_runs(at, nt, kMaxRun, runs);
            for (i64 gi = 0; gi < s.G; ++gi) {
                // Both operands are packed a register tile of channels at a time, all of them for one
                // tile (dM) or run of tiles (V) before the next: the XI values of a tile go to XI
                // planes, and the channels of one register tile share those planes' cache lines.
                for (i64 k0 = 0; k0 < Mp; k0 += MR)
                    for (i64 j = 0; j < nt; ++j)
                        for (i64 k = k0; k < k0 + MR; ++k) {
                            T q[XI];
                            if (k >= Kg) {
                                std::fill(q, q + XI, T(0));  // packed panels are zero past their rows
                            } else {
                                const TileAt& a = at[j];
                                const T* plane = DY + (a.image * s.K + gi * Kg + k) * OP;
                                T dy[2][2];
                                for (int i = 0; i < 2; ++i)
                                    for (int w = 0; w < 2; ++w)
                                        dy[i][w] = (a.oh + i < s.OH && a.ow + w < s.OW) ? plane[(a.oh + i) * s.OW + a.ow + w]
                                                                                       : T(0);
                                output_gradient_transform<Tr>(dy, q);
                            }
                            T* out = A + k0 * nt + j * MR + (k - k0);
                            for (int xi = 0; xi < XI; ++xi) out[xi * as_] = q[xi];
                        }
                for (i64 c0 = 0; c0 < Np; c0 += NR)
                    for (int q = 0; q < nruns; ++q) {
                        const TileRun& r = runs[q];
                        const TileAt& a = at[r.j0];
                        for (i64 c = c0; c < c0 + NR; ++c) {
                            T* out = B + c0 * nt + r.j0 * NR + (c - c0);  // tile r.j0 + jj at + jj*NR
                            if (c >= Cg) {  // packed panels are zero past their columns
                                for (int xi = 0; xi < XI; ++xi)
                                    for (i64 jj = 0; jj < r.len; ++jj) out[xi * bs + jj * NR] = T(0);
                                continue;
                            }
                            const FilterBlocks::Virtual vc = fb.at(c);
                            const i64 channel = gi * (s.C / s.G) + vc.c;
                            tile_row_input<Tr>(X + (a.image * s.C + channel) * s.H * s.W, s.H, s.W, a.h0 + taps * vc.a,
                                               a.w0 + taps * vc.b, r.len, zeros.data(), out, bs, NR);
                        }
                    }
                for (int xi = 0; xi < XI; ++xi)
                    gemm_packed(tile, Kg, Cg, nt, T(1), A + xi * as_, B + xi * bs, t0 == c0 ? T(0) : T(1),
                                acc + gi * usize + xi * Kg * Cg, Cg);
            }
        }
    }
    // The chunks' dU summed in chunk order, then each block's gradient, written to its taps of the
    // filter (the taps of the zero padding past R and S are dropped). A run of filters at a time,
    // plane by plane: the XI planes lie Kg*Cg apart (often a multiple of 4 KiB), and reading one
    // filter's values across all of them at once thrashed L1 (most of a per-example 5x5 pass).
    constexpr i64 kRun = 64;
    const i64 per_group = Kg * Cg;  // (output, virtual) channel pairs
    const i64 group_runs = (per_group + kRun - 1) / kRun;
#pragma omp parallel for if (s.K * Cg * chunks * XI >= 65536 && !omp_in_parallel()) schedule(static)
    for (i64 run = 0; run < s.G * group_runs; ++run) {
        const i64 gi = run / group_runs, f0 = (run % group_runs) * kRun;
        const i64 n = std::min(kRun, per_group - f0);
        T u[XI][kRun];
        for (int xi = 0; xi < XI; ++xi) {
            const T* p = partials + gi * usize + xi * per_group + f0;
            for (i64 q = 0; q < n; ++q) u[xi][q] = p[q];
            for (i64 ch = 1; ch < chunks; ++ch)
                for (i64 q = 0; q < n; ++q) u[xi][q] += p[ch * s.G * usize + q];
        }
        // dg = G^T dU G for the run's filters side by side (q innermost, so the transforms run
        // across filters in vector registers), then each filter's taps written out.
        T sg[taps][AL][kRun], dg[taps * taps][kRun];
        for (int j = 0; j < AL; ++j)
            for (i64 q = 0; q < n; ++q) {
                T col[AL], out[taps];
                for (int i = 0; i < AL; ++i) col[i] = u[AL * i + j][q];
                Tr::filter_adjoint(col, out);
                for (int i = 0; i < taps; ++i) sg[i][j][q] = out[i];
            }
        for (int i = 0; i < taps; ++i)
            for (i64 q = 0; q < n; ++q) {
                T row[AL], out[taps];
                for (int j = 0; j < AL; ++j) row[j] = sg[i][j][q];
                Tr::filter_adjoint(row, out);
                for (int j = 0; j < taps; ++j) dg[taps * i + j][q] = out[j];
            }
        if (s.R == taps && s.S == taps) {
            // The filter is one whole block (3x3 through F(2, 3), 5x5 through F(2, 5)): virtual
            // channels are the channels, so the run's filters lie side by side in DW. (Locating
            // each filter took six integer divisions, a tenth of a per-example 5x5 weight gradient.)
            T* out = DW + (gi * per_group + f0) * RS;
            for (i64 q = 0; q < n; ++q)
                for (i64 t = 0; t < RS; ++t) out[q * RS + t] = dg[t][q];
            continue;
        }
        for (i64 q = 0; q < n; ++q) {
            const i64 kv = f0 + q, k = kv / Cg, v = kv % Cg;
            const FilterBlocks::Virtual vc = fb.at(v);
            T* filter = DW + ((gi * Kg + k) * (s.C / s.G) + vc.c) * RS;
            for (i64 i = 0; i < taps && taps * vc.a + i < s.R; ++i)
                for (i64 j = 0; j < taps && taps * vc.b + j < s.S; ++j)
                    filter[(taps * vc.a + i) * s.S + taps * vc.b + j] = dg[taps * i + j][q];
        }
    }
}

}  // namespace

template <class T>
void winograd_backward_weight(const WinogradShape& s, const Conv2dGeometry& g, const T* X, const T* DY, T* DW) {
    if (winograd_uses_f25(s)) return backward_weight_tiles<F25>(s, g, X, DY, DW);
    backward_weight_tiles<F23>(s, g, X, DY, DW);
}

template void winograd_backward_weight<float>(const WinogradShape&, const Conv2dGeometry&, const float*, const float*,
                                              float*);
template void winograd_backward_weight<double>(const WinogradShape&, const Conv2dGeometry&, const double*,
                                               const double*, double*);
template void winograd_forward<float>(const WinogradShape&, const Conv2dGeometry&, const float*, const float*,
                                      const float*, float*);
template void winograd_forward<double>(const WinogradShape&, const Conv2dGeometry&, const double*, const double*,
                                       const double*, double*);

}  // namespace gs::kernels::cpu
