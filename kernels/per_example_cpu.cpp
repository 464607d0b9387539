// CPU per-example gradient quantities. Everything runs on one "patch source": for a range of
// examples it yields position-major patches U (n, P, F) and output gradients D (n, P, O) (see
// per_example.h). Linear hands out its own inputs; Conv2d unfolds x ("im2row": im2col of
// conv2d_cpu.cpp, transposed so that a block of examples is one (n*P x F) matrix) and transposes
// dy, a chunk of examples at a time so the scratch stays within the budget. Materialized Conv2d
// gradients (gradients, norms and moments by materializing) skip the patches: each example's is
// the batch weight-gradient kernel of conv2d_cpu.cpp run on that one image.
//
// Determinism: every output element is reduced by one thread in a fixed order that depends on
// the shapes and the budget only, never on the thread count.
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/batch_norm.h"
#include "kernels/gemm.h"
#include "kernels/lane_sum_cpu.h"
#include "kernels/line_stream_cpu.h"
#include "kernels/parallel_cpu.h"
#include "kernels/per_example.h"
#include "kernels/scratch.h"
#include "tensor/dtype.h"

namespace gs::kernels::cpu {
namespace {

using i64 = std::int64_t;

bool parallel_ok(i64 n) { return n > 1 && omp_get_max_threads() > 1 && !omp_in_parallel(); }

// Per-example gradient outputs larger than this are written with non-temporal stores (LineStream):
// twice a large L3, so they could not stay cached anyway.
constexpr double kStreamBytes = double(std::int64_t(32) << 20);

// A chunk of examples in patch form; U and D point into the buffers or into the caller's tensors.
template <class T>
struct Chunk {
    PooledArray<T> ubuf, dbuf;
    const T* U = nullptr;  // (n, P, F), or (n, P, nf) columns [f0, f0 + nf) of it: row stride ldu
    const T* D = nullptr;  // (n, P, O)
    i64 ldu = 0;
};

template <class T>
struct Source {
    PatchShape s;
    // Linear: a (B, P, F), d (B, P, O) as given.
    const T* a = nullptr;
    const T* d = nullptr;
    // Conv2d: x (B, C, H, W), dy (B, K, OH, OW), R x S filters.
    const T* x = nullptr;
    const T* dy = nullptr;
    i64 C = 0, H = 0, W = 0, R = 1, S = 1, OH = 1, OW = 1;
    Conv2dGeometry g;
    bool conv = false;

    // Conv2d: example i's weight gradient (K, C/G, R, S) into `row`, by the batched kernel of
    // conv2d_cpu.cpp on that one image (Winograd or im2col + gemm, no unfolded copy of the chunk):
    // the same bits as a batch-of-one backward pass.
    void conv_weight_grad(i64 i, T* row) const {
        conv2d_backward_weight_raw<T>({1, C, H, W}, {s.O, s.F / s.G / (R * S), R, S}, {1, s.O, OH, OW}, g,
                                      x + i * C * H * W, dy + i * s.O * s.P, row);
    }

    i64 fetch_elems() const { return conv ? s.P * (s.F + s.O) : 0; }

    // Columns of U come in whole input channels (R * S of them) for a conv, singly for a Linear.
    i64 column_unit() const { return conv ? R * S : 1; }

    // Patches of examples [i0, i0 + n): all columns of U, or the nf columns from f0 (multiples of
    // column_unit()), so that a caller blocking over columns unfolds each element once.
    void fetch(i64 i0, i64 n, Chunk<T>& c, i64 f0 = 0, i64 nf = -1) const {
        if (nf < 0) nf = s.F - f0;
        if (!conv) {
            c.U = a + i0 * s.P * s.F + f0;
            c.ldu = s.F;
            c.D = d + i0 * s.P * s.O;
            return;
        }
        c.ubuf.resize(std::size_t(n * s.P * nf));
        c.dbuf.resize(std::size_t(n * s.P * s.O));
        T* U = c.ubuf.data();
        T* D = c.dbuf.data();
        const i64 c0 = f0 / (R * S), c1 = (f0 + nf) / (R * S);
#pragma omp parallel for if (parallel_ok(n)) schedule(static)
        for (i64 i = 0; i < n; ++i) {
            // U[i][(oh, ow)][(c, r, s)] = x[i0 + i, c, in_h(oh, r), in_w(ow, s)], 0 in the padding.
            const T* xi = x + (i0 + i) * C * H * W;
            T* ui = U + i * s.P * nf;
            for (i64 oh = 0; oh < OH; ++oh)
                for (i64 ow = 0; ow < OW; ++ow) {
                    T* row = ui + (oh * OW + ow) * nf;
                    for (i64 ch = c0; ch < c1; ++ch)
                        for (i64 r = 0; r < R; ++r) {
                            const i64 ih = g.in_h(oh, r);
                            T* out = row + ((ch - c0) * R + r) * S;
                            if (ih < 0 || ih >= H) {
                                std::fill(out, out + S, T(0));
                                continue;
                            }
                            const T* in = xi + (ch * H + ih) * W;
                            for (i64 q = 0; q < S; ++q) {
                                const i64 iw = g.in_w(ow, q);
                                out[q] = (iw < 0 || iw >= W) ? T(0) : in[iw];
                            }
                        }
                }
            // D[i][p][k] = dy[i0 + i, k, p].
            const T* dyi = dy + (i0 + i) * s.O * s.P;
            T* di = D + i * s.P * s.O;
            for (i64 k = 0; k < s.O; ++k)
                for (i64 p = 0; p < s.P; ++p) di[p * s.O + k] = dyi[k * s.P + p];
        }
        c.U = U;
        c.ldu = nf;
        c.D = D;
    }
};

template <class T>
Source<T> linear_source(const Tensor& a, const Tensor& d) {
    Source<T> src;
    src.s = PatchShape{a.size(0), a.size(1), a.size(2), d.size(2), 1};
    src.a = a.data<T>();
    src.d = d.data<T>();
    return src;
}

template <class T>
Source<T> conv_source(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g) {
    Source<T> src;
    src.conv = true;
    src.s = conv2d_patch_shape(x.shape(), w_shape, g);
    src.x = x.data<T>();
    src.dy = dy.data<T>();
    src.C = x.size(1), src.H = x.size(2), src.W = x.size(3);
    src.R = w_shape[2], src.S = w_shape[3];
    src.OH = dy.size(2), src.OW = dy.size(3);
    src.g = g;
    return src;
}

// One example's conv bias gradient: out[k] = the sum over the P positions of dy (K, P) row k (lane_sum).
template <class T>
void channel_sums(const T* dy, i64 K, i64 P, T* out) {
    for (i64 k = 0; k < K; ++k) out[k] = lane_sum(dy + k * P, P);
}

// Examples per chunk when each example needs `per` elements of scratch.
i64 chunk_size(i64 B, i64 per, i64 budget) { return std::clamp<i64>(budget / std::max<i64>(per, 1), 1, std::max<i64>(B, 1)); }

// Per-example gradients of examples [i0, i0 + n) into rows of length `ld`: the weight (O, Fg) at
// offset 0 when `weight`, then the bias (O) (at offset O*Fg when `weight`, else 0) when `bias`.
template <class T>
void grads_chunk(const Source<T>& src, i64 i0, i64 n, bool weight, bool bias, T* rows, i64 ld, Chunk<T>& c,
                 bool stream = false) {
    const PatchShape& s = src.s;
    const i64 Fg = s.F / s.G, Og = s.O / s.G;
    if (src.conv) {
        // An example per thread: its weight gradient from the conv kernel, its bias from dy. (A
        // single example's conv kernel gets the whole team.)
        parallel_for_if(parallel_ok(n), n, [&](i64 i) {
            T* row = rows + i * ld;
            if (weight) src.conv_weight_grad(i0 + i, row);
            if (bias) channel_sums(src.dy + (i0 + i) * s.O * s.P, s.O, s.P, row + (weight ? s.O * Fg : 0));
        });
        return;
    }
    src.fetch(i0, n, c);
#pragma omp parallel if (parallel_ok(n))
    {
#pragma omp for schedule(static)
    for (i64 i = 0; i < n; ++i) {
        const T* U = c.U + i * s.P * s.F;
        const T* D = c.D + i * s.P * s.O;
        T* row = rows + i * ld;
        if (weight && s.P == 1) {
            // One position (a Linear layer): the gradient is the outer product d a^T, written
            // straight out (a GEMM with inner size 1 would spend its time packing and tiling), its
            // O rows one contiguous run.
            if (stream) {
                LineStream<T> out(row, s.O * Fg);
                for (i64 gi = 0; gi < s.G; ++gi)
                    for (i64 k = 0; k < Og; ++k) out.put_scaled(U + gi * Fg, D[gi * Og + k], Fg);
            } else {
                for (i64 gi = 0; gi < s.G; ++gi)
                    for (i64 k = 0; k < Og; ++k) {
                        T* r = row + (gi * Og + k) * Fg;
                        const T* u = U + gi * Fg;
                        const T dk = D[gi * Og + k];
#pragma omp simd
                        for (i64 f = 0; f < Fg; ++f) r[f] = dk * u[f];
                    }
            }
        } else if (weight) {
            for (i64 gi = 0; gi < s.G; ++gi)
                gemm<T>(true, false, Og, Fg, s.P, T(1), D + gi * Og, s.O, U + gi * Fg, s.F, T(0), row + gi * Og * Fg,
                        Fg);
        }
        if (bias) {
            T* b = row + (weight ? s.O * Fg : 0);
            std::fill(b, b + s.O, T(0));
            for (i64 p = 0; p < s.P; ++p)
                for (i64 k = 0; k < s.O; ++k) b[k] += D[p * s.O + k];
        }
    }
    if (stream) store_fence();  // this thread's streamed rows are visible before the caller reads them
    }
}

template <class T>
i64 row_length(const PatchShape& s, bool weight, bool bias) {
    return (weight ? s.O * (s.F / s.G) : 0) + (bias ? s.O : 0);
}

// Weight gradients of all examples, assigned to rows of out with row stride ld.
template <class T>
void grads_rows(const Source<T>& src, bool weight, T* out, i64 ld, i64 budget) {
    const i64 B = src.s.B;
    const i64 n = chunk_size(B, src.fetch_elems(), budget);
    Chunk<T> c;
    // Stream the rows around the caches when they could not stay in them anyway.
    const bool stream = double(B) * double(row_length<T>(src.s, weight, false)) * sizeof(T) > kStreamBytes;
    for (i64 i0 = 0; i0 < B; i0 += n)
        grads_chunk(src, i0, std::min(n, B - i0), weight, false, out + i0 * ld, ld, c, stream);
}

template <class T>
T dot(const T* u, const T* v, i64 n) {
    T acc = T(0);
    for (i64 k = 0; k < n; ++k) acc += u[k] * v[k];
    return acc;
}

template <class T>
void sq_norms(const Source<T>& src, bool weight, bool bias, const PerExampleConfig& cfg, T* out) {
    const PatchShape& s = src.s;
    const i64 B = s.B, P = s.P, Fg = s.F / s.G, Og = s.O / s.G;
    std::fill(out, out + B, T(0));
    if (B == 0 || (!weight && !bias)) return;
    const PerExampleMethod m = weight ? choose_norms_method(s, cfg) : PerExampleMethod::materialize;
    Chunk<T> c;
    if (m == PerExampleMethod::materialize) {
        const i64 ld = row_length<T>(s, weight, bias);
        const i64 n = chunk_size(B, src.fetch_elems() + ld, cfg.budget);
        PooledArray<T> rows(std::size_t(n * ld));
        for (i64 i0 = 0; i0 < B; i0 += n) {
            const i64 nn = std::min(n, B - i0);
            grads_chunk(src, i0, nn, weight, bias, rows.data(), ld, c);
#pragma omp parallel for if (parallel_ok(nn) && nn * ld >= 32768) schedule(static)
            for (i64 i = 0; i < nn; ++i) out[i0 + i] = dot(rows.data() + i * ld, rows.data() + i * ld, ld);
        }
        return;
    }
    // Patches: per example and group, (U U^T) and (D D^T) are P x P; the bias rides along as +1.
    const i64 n = chunk_size(B, src.fetch_elems(), cfg.budget);
    const PatchGramTerm term;
    for (i64 i0 = 0; i0 < B; i0 += n) {
        const i64 nn = std::min(n, B - i0);
        src.fetch(i0, nn, c);
#pragma omp parallel if (parallel_ok(nn))
        {
            std::vector<T> uu(std::size_t(P * P)), dd(std::size_t(P * P));
#pragma omp for schedule(static)
            for (i64 i = 0; i < nn; ++i) {
                const T* U = c.U + i * P * s.F;
                const T* D = c.D + i * P * s.O;
                T acc = T(0);
                for (i64 gi = 0; gi < s.G; ++gi) {
                    if (P == 1) {
                        acc += term(dot(U + gi * Fg, U + gi * Fg, Fg), dot(D + gi * Og, D + gi * Og, Og), T(1),
                                    T(bias ? 1 : 0));
                        continue;
                    }
                    gemm<T>(false, true, P, P, Fg, T(1), U + gi * Fg, s.F, U + gi * Fg, s.F, T(0), uu.data(), P);
                    gemm<T>(false, true, P, P, Og, T(1), D + gi * Og, s.O, D + gi * Og, s.O, T(0), dd.data(), P);
                    for (i64 e = 0; e < P * P; ++e) acc += term(uu[std::size_t(e)], dd[std::size_t(e)], T(1), T(bias ? 1 : 0));
                }
                out[i0 + i] = acc;
            }
        }
    }
}

// out (B, B) = rows rows^T for rows (B, ld), or a block of it.
template <class T>
void mirror_lower(T* out, i64 B) {
    for (i64 i = 0; i < B; ++i)
        for (i64 j = i + 1; j < B; ++j) out[i * B + j] = out[j * B + i];
}

// out (B, B) lower-triangle blocks += R R^T for rows R (B, ld); the caller mirrors at the end.
// Blocks of 256 rows: only pairs (I, J <= I) run (3 of 4 products at B = 500); big blocks keep
// each GEMM call efficient when ld is long.
template <class T>
void syrk_lower_add(const T* R, i64 B, i64 ld, T* out) {
    constexpr i64 kBlock = 256;
    for (i64 i0 = 0; i0 < B; i0 += kBlock)
        for (i64 j0 = 0; j0 <= i0; j0 += kBlock)
            gemm<T>(false, true, std::min(kBlock, B - i0), std::min(kBlock, B - j0), ld, T(1), R + i0 * ld, ld,
                    R + j0 * ld, ld, T(1), out + i0 * B + j0, B);
}

// Materialized Gram, blocked over PARAMETERS rather than examples: for a block of nf patch columns
// (whole input channels) of one group, every example's partial gradient (Og x nf) is formed once
// into R (B, Og*nf) and R R^T is added; the Gram is the sum over blocks. Each per-example gradient
// element is thus formed exactly once, whatever the budget (blocking over examples would re-form
// chunks for every block pair), and blocking over input columns rather than output channels also
// unfolds each patch element once: a block fetches only its own channels. The bias rows (B, O) are
// formed on the first pass and added last. out starts zeroed.
template <class T>
void gram_materialize(const Source<T>& src, bool weight, bool bias, i64 budget, T* out) {
    const PatchShape& s = src.s;
    const i64 B = s.B, P = s.P, Fg = s.F / s.G, Og = s.O / s.G, unit = src.column_unit();
    // Columns per block: half the budget for R, in whole channels, at least one channel.
    const i64 fb = std::clamp<i64>(budget / 2 / std::max<i64>(B * Og, 1) / unit, 1, std::max<i64>(Fg / unit, 1)) * unit;
    PooledArray<T> R(std::size_t(weight ? B * Og * std::min(fb, Fg) : 0)), bias_rows(std::size_t(bias ? B * s.O : 0));
    Chunk<T> c;
    bool bias_done = !bias;
    for (i64 gi = 0; gi < s.G && (weight || !bias_done); ++gi)
        for (i64 f0 = 0; f0 < Fg; f0 += fb) {
            const i64 nf = std::min(fb, Fg - f0);
            const i64 ld = Og * nf;
            // Examples per fetch: the other half of the budget holds their patches.
            const i64 n = chunk_size(B, P * (nf + s.O), std::max<i64>(budget / 2, 1));
            for (i64 i0 = 0; i0 < B; i0 += n) {
                const i64 nn = std::min(n, B - i0);
                src.fetch(i0, nn, c, gi * Fg + f0, nf);
#pragma omp parallel for if (parallel_ok(nn)) schedule(static)
                for (i64 i = 0; i < nn; ++i) {
                    const T* U = c.U + i * P * c.ldu;
                    const T* D = c.D + i * P * s.O;
                    if (weight)
                        gemm<T>(true, false, Og, nf, P, T(1), D + gi * Og, s.O, U, c.ldu, T(0), R.data() + (i0 + i) * ld,
                                nf);
                    if (!bias_done) {
                        T* b = bias_rows.data() + (i0 + i) * s.O;
                        std::fill(b, b + s.O, T(0));
                        for (i64 p = 0; p < P; ++p)
                            for (i64 k = 0; k < s.O; ++k) b[k] += D[p * s.O + k];
                    }
                }
            }
            bias_done = true;
            if (!weight) break;
            syrk_lower_add(R.data(), B, ld, out);
        }
    if (bias) syrk_lower_add(bias_rows.data(), B, s.O, out);
    mirror_lower(out, B);
}

template <class T>
void gram(const Source<T>& src, bool weight, bool bias, const PerExampleConfig& cfg, T* out) {
    const PatchShape& s = src.s;
    const i64 B = s.B, P = s.P, Fg = s.F / s.G, Og = s.O / s.G;
    std::fill(out, out + B * B, T(0));
    if (B == 0 || (!weight && !bias)) return;
    const PerExampleMethod m = weight ? choose_gram_method(s, cfg) : PerExampleMethod::materialize;
    if (m == PerExampleMethod::materialize) {
        gram_materialize(src, weight, bias, cfg.budget, out);
        return;
    }
    // Patches: for a pair of example blocks, MU = U_I U_J^T and MD = D_I D_J^T are (ni P x nj P);
    // entry (i, j) sums PatchGramTerm over its P x P sub-block. Block size keeps both within budget.
    const i64 side = std::max<i64>(1, i64(std::sqrt(double(cfg.budget) / 2.0)) / std::max<i64>(P, 1));
    const i64 n = std::min(std::max<i64>(B, 1), std::max<i64>(1, std::min(side, chunk_size(B, src.fetch_elems(), cfg.budget / 2))));
    Chunk<T> ci, cj;
    PooledArray<T> mu(std::size_t(n * P * n * P)), md(std::size_t(n * P * n * P));
    const PatchGramTerm term;
    for (i64 i0 = 0; i0 < B; i0 += n) {
        const i64 ni = std::min(n, B - i0);
        src.fetch(i0, ni, ci);
        for (i64 j0 = 0; j0 <= i0; j0 += n) {
            const i64 nj = std::min(n, B - j0);
            const Chunk<T>* cjp = &ci;
            if (j0 != i0) {
                src.fetch(j0, nj, cj);
                cjp = &cj;
            }
            const i64 ldm = nj * P;
            for (i64 gi = 0; gi < s.G; ++gi) {
                gemm<T>(false, true, ni * P, nj * P, Fg, T(1), ci.U + gi * Fg, s.F, cjp->U + gi * Fg, s.F, T(0),
                        mu.data(), ldm);
                gemm<T>(false, true, ni * P, nj * P, Og, T(1), ci.D + gi * Og, s.O, cjp->D + gi * Og, s.O, T(0),
                        md.data(), ldm);
                // Each (i, j) entry is summed by one thread, groups in order.
#pragma omp parallel for if (parallel_ok(ni) && ni * nj * P * P >= 32768) schedule(static)
                for (i64 i = 0; i < ni; ++i)
                    for (i64 j = 0; j < nj; ++j) {
                        T acc = T(0);
                        for (i64 p = 0; p < P; ++p) {
                            const T* u = mu.data() + (i * P + p) * ldm + j * P;
                            const T* dd = md.data() + (i * P + p) * ldm + j * P;
                            for (i64 q = 0; q < P; ++q) acc += term(u[q], dd[q], T(1), T(bias ? 1 : 0));
                        }
                        out[(i0 + i) * B + j0 + j] += acc;
                    }
            }
        }
    }
    mirror_lower(out, B);
}

// Sums over examples of the rows and of their squares, in example order per element.
template <class T>
void moments_generic(const Source<T>& src, bool weight, bool bias, i64 budget, T* sum, T* sum_sq) {
    const PatchShape& s = src.s;
    const i64 B = s.B, ld = row_length<T>(s, weight, bias);
    std::fill(sum, sum + ld, T(0));
    std::fill(sum_sq, sum_sq + ld, T(0));
    const i64 n = chunk_size(B, src.fetch_elems() + ld, budget);
    PooledArray<T> rows(std::size_t(n * ld));
    Chunk<T> c;
    for (i64 i0 = 0; i0 < B; i0 += n) {
        const i64 nn = std::min(n, B - i0);
        grads_chunk(src, i0, nn, weight, bias, rows.data(), ld, c);
#pragma omp parallel for if (ld >= 4096 && !omp_in_parallel()) schedule(static)
        for (i64 e = 0; e < ld; ++e) {
            T a = sum[e], q = sum_sq[e];
            for (i64 i = 0; i < nn; ++i) {
                const T v = rows[std::size_t(i * ld + e)];
                a += v;
                q += v * v;
            }
            sum[e] = a;
            sum_sq[e] = q;
        }
    }
}

template <class T>
void split_moments(const PatchShape& s, bool weight, bool bias, const PooledArray<T>& sum, const PooledArray<T>& sq,
                   PerExampleMoments& out) {
    const i64 nw = weight ? s.O * (s.F / s.G) : 0;
    if (weight) {
        std::copy(sum.begin(), sum.begin() + nw, out.sum_weight.data<T>());
        std::copy(sq.begin(), sq.begin() + nw, out.sum_sq_weight.data<T>());
    }
    if (bias) {
        std::copy(sum.begin() + nw, sum.begin() + nw + s.O, out.sum_bias.data<T>());
        std::copy(sq.begin() + nw, sq.begin() + nw + s.O, out.sum_sq_bias.data<T>());
    }
}

template <class T>
void moments(const Source<T>& src, bool weight, bool bias, const PerExampleConfig& cfg, PerExampleMoments& out) {
    const PatchShape& s = src.s;
    const i64 ld = row_length<T>(s, weight, bias);
    PooledArray<T> sum(static_cast<std::size_t>(ld)), sq(static_cast<std::size_t>(ld));
    if (!src.conv && s.P == 1 && weight) {
        // No extra dims: sum_i d_i a_i^T = D^T A, and sum_i (d_i a_i^T)^2 = (D o D)^T (A o A)
        // elementwise, so neither needs a per-example gradient. Squares go through chunks.
        const i64 B = s.B, F = s.F, O = s.O;
        gemm<T>(true, false, O, F, B, T(1), src.d, O, src.a, F, T(0), sum.data(), F);
        const i64 n = chunk_size(B, F + O, cfg.budget);
        PooledArray<T> a2(std::size_t(n * F)), d2(std::size_t(n * O));
        for (i64 i0 = 0; i0 < B; i0 += n) {
            const i64 nn = std::min(n, B - i0);
            for (i64 e = 0; e < nn * F; ++e) a2[std::size_t(e)] = src.a[i0 * F + e] * src.a[i0 * F + e];
            for (i64 e = 0; e < nn * O; ++e) d2[std::size_t(e)] = src.d[i0 * O + e] * src.d[i0 * O + e];
            gemm<T>(true, false, O, F, nn, T(1), d2.data(), O, a2.data(), F, i0 == 0 ? T(0) : T(1), sq.data(), F);
        }
        if (B == 0) std::fill(sq.begin(), sq.end(), T(0));
        if (bias) {
            T* sb = sum.data() + O * F;
            T* qb = sq.data() + O * F;
            std::fill(sb, sb + O, T(0));
            std::fill(qb, qb + O, T(0));
            for (i64 i = 0; i < B; ++i)
                for (i64 k = 0; k < O; ++k) {
                    const T v = src.d[i * O + k];
                    sb[k] += v;
                    qb[k] += v * v;
                }
        }
    } else {
        moments_generic(src, weight, bias, cfg.budget, sum.data(), sq.data());
    }
    split_moments(s, weight, bias, sum, sq, out);
}

}  // namespace

// ---- entry points -----------------------------------------------------------------------------------

void linear_grad_weight(const Tensor& a, const Tensor& d, Tensor& rows) {
    visit_float(a.dtype(), "linear_per_example_grad_weight", [&](auto tag) {
        using T = decltype(tag);
        const Source<T> src = linear_source<T>(a, d);
        grads_rows(src, true, rows.data<T>(), rows.stride(0), kPerExampleDefaultBudget);
    });
}

void linear_grad_bias(const Tensor& d, Tensor& rows) {
    visit_float(d.dtype(), "linear_per_example_grad_bias", [&](auto tag) {
        using T = decltype(tag);
        const i64 B = d.size(0), P = d.size(1), O = d.size(2), ld = rows.stride(0);
        const T* D = d.data<T>();
        T* out = rows.data<T>();
#pragma omp parallel for if (parallel_ok(B) && B * P * O >= 32768) schedule(static)
        for (i64 i = 0; i < B; ++i) {
            T* b = out + i * ld;
            std::fill(b, b + O, T(0));
            for (i64 p = 0; p < P; ++p)
                for (i64 k = 0; k < O; ++k) b[k] += D[(i * P + p) * O + k];
        }
    });
}

void linear_sq_norms(const Tensor& a, const Tensor& d, bool weight, bool bias, const PerExampleConfig& cfg,
                     Tensor& out) {
    visit_float(a.dtype(), "linear_per_example_sq_norms",
                [&](auto tag) { sq_norms(linear_source<decltype(tag)>(a, d), weight, bias, cfg, out.data<decltype(tag)>()); });
}

void linear_gram(const Tensor& a, const Tensor& d, bool weight, bool bias, const PerExampleConfig& cfg, Tensor& out) {
    visit_float(a.dtype(), "linear_per_example_gram",
                [&](auto tag) { gram(linear_source<decltype(tag)>(a, d), weight, bias, cfg, out.data<decltype(tag)>()); });
}

void linear_moments(const Tensor& a, const Tensor& d, bool weight, bool bias, const PerExampleConfig& cfg,
                    PerExampleMoments& out) {
    visit_float(a.dtype(), "linear_per_example_moments",
                [&](auto tag) { moments(linear_source<decltype(tag)>(a, d), weight, bias, cfg, out); });
}

void conv2d_grad_weight(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g, Tensor& rows) {
    visit_float(x.dtype(), "conv2d_per_example_grad_weight", [&](auto tag) {
        using T = decltype(tag);
        grads_rows(conv_source<T>(x, dy, w_shape, g), true, rows.data<T>(), rows.stride(0), kPerExampleDefaultBudget);
    });
}

void conv2d_grad_bias(const Tensor& dy, Tensor& rows) {
    visit_float(dy.dtype(), "conv2d_per_example_grad_bias", [&](auto tag) {
        using T = decltype(tag);
        const i64 B = dy.size(0), K = dy.size(1), P = dy.size(2) * dy.size(3), ld = rows.stride(0);
        const T* D = dy.data<T>();
        T* out = rows.data<T>();
#pragma omp parallel for if (B * K * P >= 32768) schedule(static)
        for (i64 i = 0; i < B; ++i) channel_sums(D + i * K * P, K, P, out + i * ld);
    });
}

void conv2d_sq_norms(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g, bool weight,
                     bool bias, const PerExampleConfig& cfg, Tensor& out) {
    visit_float(x.dtype(), "conv2d_per_example_sq_norms", [&](auto tag) {
        using T = decltype(tag);
        sq_norms(conv_source<T>(x, dy, w_shape, g), weight, bias, cfg, out.data<T>());
    });
}

void conv2d_gram(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g, bool weight,
                 bool bias, const PerExampleConfig& cfg, Tensor& out) {
    visit_float(x.dtype(), "conv2d_per_example_gram", [&](auto tag) {
        using T = decltype(tag);
        gram(conv_source<T>(x, dy, w_shape, g), weight, bias, cfg, out.data<T>());
    });
}

void conv2d_moments(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g, bool weight,
                    bool bias, const PerExampleConfig& cfg, PerExampleMoments& out) {
    visit_float(x.dtype(), "conv2d_per_example_moments", [&](auto tag) {
        using T = decltype(tag);
        moments(conv_source<T>(x, dy, w_shape, g), weight, bias, cfg, out);
    });
}

void batch_norm_grad_weight(const Tensor& x, const Tensor& dy, const Tensor& running_mean, const Tensor& running_var,
                            double eps, Tensor& out) {
    visit_float(x.dtype(), "batch_norm_per_example_grad_weight", [&](auto tag) {
        using T = decltype(tag);
        const i64 B = x.size(0), C = x.size(1), S = x.size(2), ld = out.stride(0);
        const T* X = x.data<T>();
        const T* DY = dy.data<T>();
        const T* mean = running_mean.data<T>();
        const T* var = running_var.data<T>();
        T* o = out.data<T>();
        const BatchNormInvstd invstd_of;
        const BatchNormGammaTerm term;
#pragma omp parallel for if (B * C * S >= 32768) schedule(static)
        for (i64 e = 0; e < B * C; ++e) {
            const i64 c = e % C;
            const T invstd = invstd_of(var[c], T(eps));
            T acc = T(0);
            for (i64 p = 0; p < S; ++p) acc += term(DY[e * S + p], X[e * S + p], mean[c], invstd);
            o[(e / C) * ld + c] = acc;
        }
    });
}

void batch_norm_grad_bias(const Tensor& dy, Tensor& out) {
    visit_float(dy.dtype(), "batch_norm_per_example_grad_bias", [&](auto tag) {
        using T = decltype(tag);
        const i64 C = dy.size(1), BC = dy.size(0) * C, S = dy.size(2), ld = out.stride(0);
        const T* DY = dy.data<T>();
        T* o = out.data<T>();
#pragma omp parallel for if (BC * S >= 32768) schedule(static)
        for (i64 e = 0; e < BC; ++e) {
            T acc = T(0);
            for (i64 p = 0; p < S; ++p) acc += DY[e * S + p];
            o[(e / C) * ld + e % C] = acc;
        }
    });
}

void row_sq_norms(const Tensor& g, Tensor& out) {
    visit_float(g.dtype(), "per_example_row_sq_norms", [&](auto tag) {
        using T = decltype(tag);
        const i64 B = g.size(0), n = g.size(1);
        const T* G = g.data<T>();
        T* o = out.data<T>();
#pragma omp parallel for if (B * n >= 32768) schedule(static)
        for (i64 i = 0; i < B; ++i) o[i] = dot(G + i * n, G + i * n, n);
    });
}

void row_gram(const Tensor& g, Tensor& out) {
    visit_float(g.dtype(), "per_example_row_gram", [&](auto tag) {
        using T = decltype(tag);
        const i64 B = g.size(0), n = g.size(1);
        gemm<T>(false, true, B, B, n, T(1), g.data<T>(), std::max<i64>(n, 1), g.data<T>(), std::max<i64>(n, 1), T(0),
                out.data<T>(), std::max<i64>(B, 1));
    });
}

}  // namespace gs::kernels::cpu
