// The packed, cache-blocked CPU GEMM (Goto/BLIS structure): blocking, packing, threading and the
// run-time choice of micro-kernel. The AVX2 and AVX-512 micro-kernels live in gemm_avx2.cpp and
// gemm_avx512.cpp (the only files built with -mavx*); the portable one is here.
//
// Threads: C is split into chunks of whole MR-row or NR-column panels (columns when M <= N, so the
// batch-128 training shapes keep every core busy), and each thread runs the loop nest below on its
// chunks with its own packing buffers; see gemm_blocked. Threads split only C, never K, and chunk
// edges fall on tile edges, so an element's value does not depend on the thread count.
// Loop nest per chunk, outermost first:
//   jc: columns in blocks of NC
//   pc: K in blocks of KC, in increasing order (this fixes each element's sum order); the KC x NC
//       panel of op(B) is packed (L3 / L2)
//   ic: rows in blocks of MC; the MC x KC block of op(A) is packed (L2)
//   jr, ir: NR- and MR-wide micro-panels, NR outermost so a KC x NR micro-panel of B stays in L1
//       while the MR panels of A stream past it.
// Packed panels are zero-padded to full MR/NR width, so the micro-kernels have no k-loop edge cases;
// the padding only feeds accumulator entries that are never stored. MC is a multiple of MR and NC
// of NR (see run()), so the tiles sit at the same places whatever the chunking.
// A product with K <= 16 and a small untransposed B (a 10-class layer's input gradient) skips all
// of this: gemm_small_k.inc reads A and B where they lie (see run()).
#include <omp.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif
#if defined(__SSE2__)
#include <emmintrin.h>
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "kernels/gemm.h"
#include "kernels/gemm_microkernel.h"
#include "kernels/scratch.h"
#include "tensor/error.h"

namespace gs::kernels::cpu {

using i64 = std::int64_t;

namespace gemm_detail {

template <class T>
void store_edge_tile_impl(const T* tile, i64 tile_ld, T* C, i64 ldc, i64 mr, i64 nr, T alpha, T beta, bool first) {
    for (i64 i = 0; i < mr; ++i) {
        const T* t = tile + i * tile_ld;
        T* c = C + i * ldc;
        if (!first) {
            for (i64 j = 0; j < nr; ++j) c[j] = alpha * t[j] + c[j];
        } else if (beta == T(0)) {
            for (i64 j = 0; j < nr; ++j) c[j] = alpha * t[j];
        } else {
            for (i64 j = 0; j < nr; ++j) c[j] = alpha * t[j] + beta * c[j];
        }
    }
}

void store_edge_tile(const float* tile, i64 tile_ld, float* C, i64 ldc, i64 mr, i64 nr, float alpha, float beta,
                     bool first) {
    store_edge_tile_impl(tile, tile_ld, C, ldc, mr, nr, alpha, beta, first);
}
void store_edge_tile(const double* tile, i64 tile_ld, double* C, i64 ldc, i64 mr, i64 nr, double alpha,
                     double beta, bool first) {
    store_edge_tile_impl(tile, tile_ld, C, ldc, mr, nr, alpha, beta, first);
}

}  // namespace gemm_detail

namespace {

using gemm_detail::MicroKernel;

// ---- the portable micro-kernel --------------------------------------------------------------------

// 4 x (one 64-byte line of T). One row of the register tile is a GCC/Clang vector that the compiler
// lowers to whatever SIMD the baseline target has (SSE2 on x86-64, NEON elsewhere).
constexpr int kGenericMR = 4;
template <class T> constexpr int kGenericNR = int(64 / sizeof(T));

template <class T>
void generic_kernel(i64 kc, const T* __restrict a, const T* __restrict b, i64 ldb, T* C, i64 ldc, i64 mr, i64 nr,
                    T alpha, T beta, bool first) {
    constexpr int MR = kGenericMR, NR = kGenericNR<T>;
    typedef T Row __attribute__((vector_size(NR * sizeof(T))));
    Row acc[MR];
    for (int i = 0; i < MR; ++i) acc[i] = Row{};
    for (i64 k = 0; k < kc; ++k) {
        Row bk;
        std::memcpy(&bk, b + k * ldb, sizeof(Row));
        for (int i = 0; i < MR; ++i) acc[i] += bk * a[k * MR + i];
    }
    T tile[MR * NR];
    std::memcpy(tile, acc, sizeof(tile));
    gemm_detail::store_edge_tile(tile, NR, C, ldc, mr, nr, alpha, beta, first);
}

// ---- blocking ---------------------------------------------------------------------------------------

// Cache blocks, tuned for Zen 5 (48 KiB L1d, 1 MiB L2 per core, shared L3): a KC x NR micro-panel
// of B plus an MR x KC one of A within about half of L1, the MC x KC block of A well inside L2, the
// KC x NC panel of B in L3. MC is a multiple of MR, NC of NR.
struct Blocks {
    i64 mc, kc, nc;
};

template <class T>
struct Kernel {
    MicroKernel<T> fn;
    Blocks blocks;
};

// ---- packing -----------------------------------------------------------------------------------------

i64 ceil_div(i64 a, i64 b) { return (a + b - 1) / b; }

// dst[k*ldd + j] = src[j*lds + k] for j < kTransposeSquare<T> and k < kb (a multiple of it): a strip
// of squares, each transposed in registers where SSE2 is there (4 x 4 floats, 2 x 2 doubles).
#if defined(__SSE2__)
template <class T>
constexpr int kTransposeSquare = 16 / int(sizeof(T));

inline void transpose_square(const float* src, i64 lds, i64 kb, float* dst, i64 ldd) {
    for (i64 k = 0; k < kb; k += 4) {
        __m128 r0 = _mm_loadu_ps(src + k), r1 = _mm_loadu_ps(src + lds + k);
        __m128 r2 = _mm_loadu_ps(src + 2 * lds + k), r3 = _mm_loadu_ps(src + 3 * lds + k);
        _MM_TRANSPOSE4_PS(r0, r1, r2, r3);
        _mm_storeu_ps(dst + k * ldd, r0);
        _mm_storeu_ps(dst + (k + 1) * ldd, r1);
        _mm_storeu_ps(dst + (k + 2) * ldd, r2);
        _mm_storeu_ps(dst + (k + 3) * ldd, r3);
    }
}
inline void transpose_square(const double* src, i64 lds, i64 kb, double* dst, i64 ldd) {
    for (i64 k = 0; k < kb; k += 2) {
        const __m128d r0 = _mm_loadu_pd(src + k), r1 = _mm_loadu_pd(src + lds + k);
        _mm_storeu_pd(dst + k * ldd, _mm_unpacklo_pd(r0, r1));
        _mm_storeu_pd(dst + (k + 1) * ldd, _mm_unpackhi_pd(r0, r1));
    }
}
#else
template <class T>
constexpr int kTransposeSquare = 1;

template <class T>
void transpose_square(const T* src, i64, i64 kb, T* dst, i64 ldd) {
    for (i64 k = 0; k < kb; ++k) dst[k * ldd] = src[k];
}
#endif

// dst[k*W + w] = src[k*lds + w] for w < wn and k < kc, zero for wn <= w < W: the W values of one
// k are contiguous in memory.
template <class T, int W>
void pack_contiguous(const T* src, i64 lds, i64 wn, i64 kc, T* d) {
    for (i64 k = 0; k < kc; ++k) {
        const T* row = src + k * lds;
        if (wn == W) {
            std::memcpy(d + k * W, row, W * sizeof(T));  // vector moves; the element loop stayed scalar
        } else {
            for (i64 w = 0; w < wn; ++w) d[k * W + w] = row[w];
            for (i64 w = wn; w < W; ++w) d[k * W + w] = T(0);
        }
    }
}

// dst[k*W + w] = src[w*lds + k] for w < wn and k < kc, zero for wn <= w < W: W streams of length
// kc interleaved into one k-major panel (op(A) untransposed, op(B) transposed). Blocks of 8 k keep
// every W-wide write line and every read line busy for a while instead of touching W lines per
// element; within a block, vector transposes of V x V squares (element by element, packing a
// linear layer's weight was 8% of an MLP step, and packing its input 5%).
template <class T, int W>
void pack_transposed(const T* src, i64 lds, i64 wn, i64 kc, T* d) {
    constexpr i64 KB = 8;
    constexpr int V = kTransposeSquare<T>, Wv = W / V * V;  // lanes [Wv, W): element by element
    static_assert(KB % V == 0);
    i64 k0 = 0;
    if (wn == W) {
        for (; k0 + KB <= kc; k0 += KB) {
            for (int w = 0; w < Wv; w += V) transpose_square(src + w * lds + k0, lds, KB, d + k0 * W + w, W);
            for (int w = Wv; w < W; ++w)
                for (i64 k = k0; k < k0 + KB; ++k) d[k * W + w] = src[w * lds + k];
        }
    }
    for (i64 w = 0; w < wn; ++w) {
        const T* row = src + w * lds;
        for (i64 k = k0; k < kc; ++k) d[k * W + w] = row[k];
    }
    for (i64 w = wn; w < W; ++w)
        for (i64 k = k0; k < kc; ++k) d[k * W + w] = T(0);
}

// Packs micro-panel q (indices [w0 + q*W, +W)) of a wn-wide, kc-deep block of an operand at
// (w0, p0), stored k-major (dst[k*W + w]) and zero-padded to W. For op(A) the indices are rows and
// W = MR; for op(B) columns and W = NR. k_contiguous: X[k*ld + w] (a transposed A, an untransposed
// B), else X[w*ld + k].
template <class T, int W>
void pack_panel(bool k_contiguous, const T* X, i64 ld, i64 w0, i64 wn, i64 p0, i64 kc, i64 q, T* dst) {
    const i64 wq = q * W;
    const i64 wv = std::min<i64>(W, wn - wq);
    T* d = dst + wq * kc;
    if (k_contiguous)
        pack_contiguous<T, W>(X + p0 * ld + w0 + wq, ld, wv, kc, d);
    else
        pack_transposed<T, W>(X + (w0 + wq) * ld + p0, ld, wv, kc, d);
}

// Micro-panel q of the mc x kc block of op(A) at (i0, p0), and of the kc x nc block of op(B) at
// (p0, j0).
template <class T, int MR>
void pack_a_panel(bool trans_a, const T* A, i64 lda, i64 i0, i64 mc, i64 p0, i64 kc, i64 q, T* dst) {
    pack_panel<T, MR>(trans_a, A, lda, i0, mc, p0, kc, q, dst);
}
template <class T, int NR>
void pack_b_panel(bool trans_b, const T* B, i64 ldb, i64 p0, i64 kc, i64 j0, i64 nc, i64 q, T* dst) {
    pack_panel<T, NR>(!trans_b, B, ldb, j0, nc, p0, kc, q, dst);
}

// ---- the driver --------------------------------------------------------------------------------------

template <class T>
struct Problem {
    bool trans_a, trans_b;
    i64 M, N, K;
    T alpha;
    const T* A;
    i64 lda;
    const T* B;
    i64 ldb;
    T beta;
    T* C;
    i64 ldc;
};

// All of op(A) (rows [0, M), every k block) packed as the ic/pc loops would pack it: the block of
// k-range [pc, pc + kc) starts at dst + pc * Mp (Mp = M rounded up to MR), its MR-panel for rows
// [i, i + MR) at + i * kc. pack_full_b is the same for op(B) with NR-panels.
template <class T, int MR>
void pack_full_a(const Problem<T>& p, i64 KC, T* dst) {
    const i64 Mp = ceil_div(p.M, MR) * MR;
    for (i64 pc = 0; pc < p.K; pc += KC) {
        const i64 kc = std::min(KC, p.K - pc);
        for (i64 q = 0; q < Mp / MR; ++q) pack_a_panel<T, MR>(p.trans_a, p.A, p.lda, 0, p.M, pc, kc, q, dst + pc * Mp);
    }
}
template <class T, int NR>
void pack_full_b(const Problem<T>& p, i64 KC, T* dst) {
    const i64 Np = ceil_div(p.N, NR) * NR;
    for (i64 pc = 0; pc < p.K; pc += KC) {
        const i64 kc = std::min(KC, p.K - pc);
        for (i64 q = 0; q < Np / NR; ++q) pack_b_panel<T, NR>(p.trans_b, p.B, p.ldb, pc, kc, 0, p.N, q, dst + pc * Np);
    }
}

// Sizes of the packing buffers for one block of op(A) / op(B). They depend only on the problem, not
// on the chunk, so every thread asks the same of its scratch buffers: the buffers grow on a thread's
// first call and are reused after, and a steady-state call faults in no fresh pages.
template <class T, int MR>
std::size_t block_elems_a(const Problem<T>& p, const Kernel<T>& kernel) {
    return std::size_t(std::min(kernel.blocks.kc, p.K) * std::min(kernel.blocks.mc, ceil_div(p.M, MR) * MR));
}
template <class T, int NR>
std::size_t block_elems_b(const Problem<T>& p, const Kernel<T>& kernel) {
    return std::size_t(std::min(kernel.blocks.kc, p.K) * std::min(kernel.blocks.nc, ceil_div(p.N, NR) * NR));
}

// C[m0:m1, n0:n1] by one thread. m0 is a multiple of MR and n0 of NR, so the register tiles sit at
// the same places whatever the partition. a_full / b_full: all of op(A) / op(B) already packed by
// pack_full_a / pack_full_b, or null to pack block by block into this thread's scratch buffers.
template <class T, int MR, int NR>
void gemm_chunk(const Problem<T>& p, const Kernel<T>& kernel, i64 m0, i64 m1, i64 n0, i64 n1, const T* a_full,
                const T* b_full) {
    const i64 MC = kernel.blocks.mc, KC = kernel.blocks.kc, NC = kernel.blocks.nc;
    const i64 Mp = ceil_div(p.M, MR) * MR, Np = ceil_div(p.N, NR) * NR;
    // With at most two row panels, each element of a packed B would be read once or twice after
    // being copied: an untransposed B, whose rows hold NR columns side by side already, is then
    // read in place. A last, partial panel is still packed, so that no read runs past B.
    const bool b_in_place = !b_full && !p.trans_b && m1 - m0 <= 2 * MR;
    T* bpack = b_full ? nullptr : thread_scratch(ScratchSlot::gemm_b).get<T>(block_elems_b<T, NR>(p, kernel));
    T* apack = a_full ? nullptr : thread_scratch(ScratchSlot::gemm_a).get<T>(block_elems_a<T, MR>(p, kernel));
    for (i64 jc = n0; jc < n1; jc += NC) {
        const i64 nc = std::min(NC, n1 - jc);
        const i64 whole = b_in_place ? nc / NR * NR : 0;  // columns [0, whole) of the block are read in place
        for (i64 pc = 0; pc < p.K; pc += KC) {
            const i64 kc = std::min(KC, p.K - pc);
            const bool first = pc == 0;
            // bp + jr*kc: the packed micro-panel of columns jc + jr.
            const T* bp = bpack;
            if (b_full) {
                bp = b_full + pc * Np + jc * kc;
            } else {
                for (i64 q = whole / NR; q < ceil_div(nc, NR); ++q)
                    pack_b_panel<T, NR>(p.trans_b, p.B, p.ldb, pc, kc, jc, nc, q, bpack);
            }
            for (i64 ic = m0; ic < m1; ic += MC) {
                const i64 mc = std::min(MC, m1 - ic);
                // ap + ir*kc: the micro-panel of rows ic + ir.
                const T* ap = apack;
                if (a_full) {
                    ap = a_full + pc * Mp + ic * kc;
                } else {
                    for (i64 q = 0; q < ceil_div(mc, MR); ++q)
                        pack_a_panel<T, MR>(p.trans_a, p.A, p.lda, ic, mc, pc, kc, q, apack);
                }
                for (i64 jr = 0; jr < nc; jr += NR) {
                    const bool in_place = jr < whole;
                    const T* b = in_place ? p.B + pc * p.ldb + jc + jr : bp + jr * kc;
                    const i64 ldb = in_place ? p.ldb : NR;
                    for (i64 ir = 0; ir < mc; ir += MR)
                        kernel.fn(kc, ap + ir * kc, b, ldb, p.C + (ic + ir) * p.ldc + jc + jr, p.ldc,
                                  std::min<i64>(MR, mc - ir), std::min<i64>(NR, nc - jr), p.alpha, p.beta, first);
                }
            }
        }
    }
}

// A thread packs the whole of the operand it shares with the other chunks (see gemm_blocked) when
// that takes at most this many bytes: skinny training shapes, not large square ones.
constexpr double kMaxFullPackBytes = 4.0 * 1024 * 1024;

// Splits C into chunks of whole NR-column panels when M <= N, of MR-row panels otherwise, and
// hands them to the threads; each runs the blocked loop nest on its chunk with its own packing
// buffers, with no synchronization but the final join. (On a machine shared with other jobs every
// barrier costs a scheduler time slice whenever one thread is preempted; that dominated skinny
// shapes with shared packed panels.) Every chunk multiplies all of the operand that is not split
// (A for column chunks): when it is small, each thread packs it once, in full, and the chunks are
// made several per thread and handed out dynamically, so a thread that is preempted leaves its
// remaining chunks to the others; otherwise there is one chunk per thread, which packs it block by
// block as usual.
// NOTE: the final join still needs every thread to be scheduled. With libgomp's default wait policy
// (spin, then sleep) on a machine with more runnable jobs than cores, the spinning thread burns the
// time slice its partner needs, and 2 threads can be several times slower than 1 on skinny shapes;
// OMP_WAIT_POLICY=passive avoids that (bench/gemm_bench.cpp measures both).
template <class T, int MR, int NR>
void gemm_blocked(const Problem<T>& p, Kernel<T> kernel, int threads) {
    const bool split_n = p.M <= p.N;
    const i64 unit = split_n ? NR : MR;
    const i64 panels = ceil_div(split_n ? p.N : p.M, unit);
    if (threads <= 1 || panels <= 1) return gemm_chunk<T, MR, NR>(p, kernel, 0, p.M, 0, p.N, nullptr, nullptr);
    const i64 shared_elems = split_n ? ceil_div(p.M, MR) * MR * p.K : ceil_div(p.N, NR) * NR * p.K;
    const bool pack_full = double(shared_elems) * sizeof(T) <= kMaxFullPackBytes;
    const i64 chunks = std::min<i64>(panels, pack_full ? 4 * threads : threads);
#pragma omp parallel num_threads(threads)
    {
        // Every thread of the team sizes its buffers, chunks or not, so that which thread takes which
        // chunk (dynamic) never makes a later call grow a buffer. With pack_full, the whole shared
        // operand goes where its block-by-block packing would have gone.
        T* full_buf = nullptr;
        if (split_n) {
            full_buf = thread_scratch(ScratchSlot::gemm_a)
                           .get<T>(pack_full ? std::size_t(shared_elems) : block_elems_a<T, MR>(p, kernel));
            thread_scratch(ScratchSlot::gemm_b).get<T>(block_elems_b<T, NR>(p, kernel));
        } else {
            thread_scratch(ScratchSlot::gemm_a).get<T>(block_elems_a<T, MR>(p, kernel));
            full_buf = thread_scratch(ScratchSlot::gemm_b)
                           .get<T>(pack_full ? std::size_t(shared_elems) : block_elems_b<T, NR>(p, kernel));
        }
        const T* full = nullptr;  // packed on this thread's first chunk
#pragma omp for schedule(dynamic, 1)
        for (i64 t = 0; t < chunks; ++t) {
            if (pack_full && !full) {
                if (split_n)
                    pack_full_a<T, MR>(p, kernel.blocks.kc, full_buf);
                else
                    pack_full_b<T, NR>(p, kernel.blocks.kc, full_buf);
                full = full_buf;
            }
            const i64 lo = panels * t / chunks * unit;
            const i64 hi = std::min(panels * (t + 1) / chunks * unit, split_n ? p.N : p.M);
            if (split_n)
                gemm_chunk<T, MR, NR>(p, kernel, 0, p.M, lo, hi, full, nullptr);
            else
                gemm_chunk<T, MR, NR>(p, kernel, lo, hi, 0, p.N, nullptr, full);
        }
    }
}

// C = beta * C without reading C when beta == 0 (the K == 0 / alpha == 0 case).
template <class T>
void scale_c(i64 M, i64 N, T beta, T* C, i64 ldc) {
    for (i64 i = 0; i < M; ++i) {
        T* c = C + i * ldc;
        if (beta == T(0)) {
            for (i64 j = 0; j < N; ++j) c[j] = T(0);
        } else {
            for (i64 j = 0; j < N; ++j) c[j] = beta * c[j];
        }
    }
}

// Fewer multiply-adds than this per thread run serial: a fork/join costs microseconds on an idle
// machine and up to a scheduler time slice on a busy one, against ~10-30 us of work here.
constexpr double kMinThreadMacs = 512.0 * 1024.0;

// The kernels of each ISA (gemm_isa_supported() admits nothing but generic off x86): the register
// tile, and the small-K product (gemm_small_k.inc; none for the portable path).
template <class T>
struct IsaKernels {
    MicroKernel<T> tile;
    gemm_detail::SmallKKernel<T> small_k;
};
template <class T>
IsaKernels<T> isa_kernels(GemmIsa isa) {
    namespace d = gemm_detail;
    constexpr bool f32 = sizeof(T) == 4;
    switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
        case GemmIsa::avx512:
            if constexpr (f32) return {d::sgemm_kernel_avx512, d::sgemm_small_k_avx512};
            else return {d::dgemm_kernel_avx512, d::dgemm_small_k_avx512};
        case GemmIsa::avx2:
            if constexpr (f32) return {d::sgemm_kernel_avx2, d::sgemm_small_k_avx2};
            else return {d::dgemm_kernel_avx2, d::dgemm_small_k_avx2};
#endif
        default: return {generic_kernel<T>, nullptr};
    }
}

// Rows of C in contiguous chunks of whole small-K tiles, one chunk per thread.
template <class T>
void small_k_blocked(gemm_detail::SmallKKernel<T> fn, const Problem<T>& p, int threads) {
    constexpr i64 R = gemm_detail::kSmallKRows;
    const i64 a_rs = p.trans_a ? 1 : p.lda, a_ks = p.trans_a ? p.lda : 1;
    const i64 tiles = ceil_div(p.M, R);
    const int used = int(std::min<i64>(threads, tiles));
    if (used <= 1) return fn(p.M, p.N, p.K, p.alpha, p.A, a_rs, a_ks, p.B, p.ldb, p.beta, p.C, p.ldc);
#pragma omp parallel for num_threads(used) schedule(static, 1)
    for (int t = 0; t < used; ++t) {
        const i64 lo = tiles * t / used * R, hi = std::min(tiles * (t + 1) / used * R, p.M);
        fn(hi - lo, p.N, p.K, p.alpha, p.A + lo * a_rs, a_rs, a_ks, p.B, p.ldb, p.beta, p.C + lo * p.ldc, p.ldc);
    }
}

template <class T>
void run(GemmIsa isa, const Problem<T>& p, int threads) {
    namespace d = gemm_detail;
    constexpr bool f32 = sizeof(T) == 4;
    const auto [kernel, small] = isa_kernels<T>(isa);
    if (small && p.K <= d::kSmallK && !p.trans_b && double(p.K) * double(p.N) * sizeof(T) <= d::kSmallKMaxB)
        return small_k_blocked<T>(small, p, threads);
    switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
        case GemmIsa::avx512:
            if constexpr (f32)
                return gemm_blocked<T, d::kAvx512MR, d::kAvx512NRf>(p, {kernel, {144, 192, 2048}}, threads);
            else
                return gemm_blocked<T, d::kAvx512MR, d::kAvx512NRd>(p, {kernel, {144, 128, 1024}}, threads);
        case GemmIsa::avx2:
            if constexpr (f32) {
                // A 10-class layer's products (C^T of 10 rows, see gemm()) in 6-row tiles compute two
                // padding rows per 12, and with B read in place each of its lines twice.
                if (p.M == 5 || p.M == 10)
                    return gemm_blocked<T, d::kAvx2MR5, d::kAvx2NRf>(p, {d::sgemm_kernel_avx2_r5, {145, 256, 2048}},
                                                                   threads);
                return gemm_blocked<T, d::kAvx2MR, d::kAvx2NRf>(p, {kernel, {144, 256, 2048}}, threads);
            } else {
                return gemm_blocked<T, d::kAvx2MR, d::kAvx2NRd>(p, {kernel, {96, 256, 1024}}, threads);
            }
#endif
        default:
            return gemm_blocked<T, kGenericMR, kGenericNR<T>>(
                p, {kernel, f32 ? Blocks{128, 256, 2048} : Blocks{96, 256, 1024}}, threads);
    }
}

// ---- ISA selection -----------------------------------------------------------------------------------

// AMD Zen 4 (family 19h) runs a 512-bit FMA as two 256-bit halves, so the AVX-512 kernel gains no
// throughput there, and the AVX2 kernel's smaller tile fits narrow products better. Measured on
// one (gemm_bench, 3 alternating rounds, 2 threads, 2026-11-25), AVX2 over AVX-512: 1024^3 +5-8%,
// 2048^3 +1-12%, a 10-class output layer's forward (128x10x512) +40%, the other MLP shapes within
// the noise; alexnet_small training +0-7% and its per-example gradients +4%, mlp_3x512 and
// inception_small training the same, inception_small inference -2 to -4%.
bool double_pumped_avx512() {
#if defined(__x86_64__) || defined(__i386__)
    unsigned eax = 0, ebx = 0, ecx = 0, edx = 0;
    if (!__get_cpuid(0, &eax, &ebx, &ecx, &edx)) return false;
    const bool amd = ebx == 0x68747541 && edx == 0x69746e65 && ecx == 0x444d4163;  // "AuthenticAMD"
    if (!amd || !__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return false;
    const unsigned family = ((eax >> 8) & 0xf) + ((eax >> 20) & 0xff);
    return family == 0x19;  // Zen 3 shares the family but has no AVX-512
#else
    return false;
#endif
}

GemmIsa best_supported_isa() {
    if (gemm_isa_supported(GemmIsa::avx512) && !double_pumped_avx512()) return GemmIsa::avx512;
    if (gemm_isa_supported(GemmIsa::avx2)) return GemmIsa::avx2;
    return GemmIsa::generic;
}

GemmIsa isa_from_environment() {
    const char* env = std::getenv("GRADSCOPE_GEMM_ISA");
    if (env == nullptr || *env == '\0') return best_supported_isa();
    for (GemmIsa isa : {GemmIsa::generic, GemmIsa::avx2, GemmIsa::avx512}) {
        if (std::string_view(env) != gemm_isa_name(isa)) continue;
        GS_CHECK(gemm_isa_supported(isa), "gemm: GRADSCOPE_GEMM_ISA=", env, " but this CPU cannot run ", env,
                 " kernels");
        return isa;
    }
    GS_FAIL("gemm: GRADSCOPE_GEMM_ISA=", env, " is not one of avx512, avx2, generic");
}

// -1 until the first gemm (or gemm_isa) call resolves the default.
std::atomic<int> g_isa{-1};

}  // namespace

const char* gemm_isa_name(GemmIsa isa) {
    switch (isa) {
        case GemmIsa::generic: return "generic";
        case GemmIsa::avx2: return "avx2";
        case GemmIsa::avx512: return "avx512";
    }
    return "?";
}

bool gemm_isa_supported(GemmIsa isa) {
#if defined(__x86_64__) || defined(__i386__)
    // __builtin_cpu_supports also checks that the OS saves the ymm / zmm registers (XCR0).
    switch (isa) {
        case GemmIsa::generic: return true;
        case GemmIsa::avx2: return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
        case GemmIsa::avx512:
            return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512vl") &&
                   __builtin_cpu_supports("fma");
    }
    return false;
#else
    return isa == GemmIsa::generic;
#endif
}

GemmIsa gemm_isa() {
    int v = g_isa.load(std::memory_order_relaxed);
    if (v < 0) {
        static const GemmIsa initial = isa_from_environment();  // throws (and retries next call) on a bad value
        v = int(initial);
        int expected = -1;
        if (!g_isa.compare_exchange_strong(expected, v)) v = expected;
    }
    return GemmIsa(v);
}

void set_gemm_isa(GemmIsa isa) {
    GS_CHECK(gemm_isa_supported(isa), "set_gemm_isa: this CPU cannot run ", gemm_isa_name(isa), " kernels");
    g_isa.store(int(isa), std::memory_order_relaxed);
}

template <class T>
void gemm(bool trans_a, bool trans_b, i64 M, i64 N, i64 K, T alpha, const T* A, i64 lda, const T* B, i64 ldb,
          T beta, T* C, i64 ldc) {
    GS_CHECK(M >= 0 && N >= 0 && K >= 0, "gemm: negative size M=", M, " N=", N, " K=", K);
    GS_CHECK(ldc >= std::max<i64>(N, 1), "gemm: ldc=", ldc, " is smaller than N=", N);
    GS_CHECK(lda >= std::max<i64>(trans_a ? M : K, 1), "gemm: lda=", lda, " is smaller than the row length ",
             trans_a ? M : K, " of ", trans_a ? "A^T" : "A");
    GS_CHECK(ldb >= std::max<i64>(trans_b ? K : N, 1), "gemm: ldb=", ldb, " is smaller than the row length ",
             trans_b ? K : N, " of ", trans_b ? "B^T" : "B");
    if (M == 0 || N == 0) return;
    if (K == 0 || alpha == T(0)) {
        scale_c(M, N, beta, C, ldc);
        return;
    }
    const GemmIsa isa = gemm_isa();
    const double macs = double(M) * double(N) * double(K);
    // Inside any parallel region, active or not, gemm runs on the calling thread: a region nested
    // in one that if() left with a single thread would start new threads on every call (see
    // kernels/parallel_cpu.h).
    const int threads =
        omp_get_level() > 0 ? 1 : int(std::clamp<double>(macs / kMinThreadMacs, 1, omp_get_max_threads()));
    const i64 nr = gemm_tile<T>().nr;
    if (N < nr && M >= nr) {
        // A narrow C (a 10-class output layer: N = 10 against 16 or 32 lanes) fills under two thirds
        // of every register tile, and every tile is an edge tile. C^T = op(B)^T op(A)^T is as wide as
        // C is tall: compute it into scratch, then write its transpose. Each element's sum over k
        // keeps its order. (128x10x512, on one thread: 13 -> 22 GFLOP/s here.)
        T* ct = thread_scratch(ScratchSlot::gemm_c).get<T>(std::size_t(N * M));
        run<T>(isa, {!trans_b, !trans_a, N, M, K, alpha, B, ldb, A, lda, T(0), ct, M}, threads);
        if (beta == T(0)) {
            // Squares of V x V transposed in registers, the rest element by element.
            constexpr i64 V = kTransposeSquare<T>;
            const i64 Mv = M / V * V, Nv = N / V * V;
            for (i64 j = 0; j < Nv; j += V) transpose_square(ct + j * M, M, Mv, C + j, ldc);
            for (i64 i = 0; i < M; ++i)
                for (i64 j = i < Mv ? Nv : 0; j < N; ++j) C[i * ldc + j] = ct[j * M + i];
            return;
        }
        for (i64 i = 0; i < M; ++i) {
            T* c = C + i * ldc;
            for (i64 j = 0; j < N; ++j) c[j] = ct[j * M + i] + beta * c[j];
        }
        return;
    }
    run<T>(isa, {trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc}, threads);
}

template <class T>
GemmTile gemm_tile() {
    namespace d = gemm_detail;
    constexpr bool f32 = sizeof(T) == 4;
    const GemmIsa isa = gemm_isa();
    switch (isa) {
#if defined(__x86_64__) || defined(__i386__)
        case GemmIsa::avx512: return {isa, d::kAvx512MR, f32 ? d::kAvx512NRf : d::kAvx512NRd};
        case GemmIsa::avx2: return {isa, d::kAvx2MR, f32 ? d::kAvx2NRf : d::kAvx2NRd};
#endif
        default: return {isa, kGenericMR, kGenericNR<T>};
    }
}

template <class T>
void gemm_pack_a(const GemmTile& tile, bool trans_a, i64 M, i64 K, const T* A, i64 lda, T* dst) {
    const i64 panels = ceil_div(M, tile.mr);
    // pack_a_panel takes MR as a template argument: one instantiation per tile height.
    auto pack = [&]<int MR>() {
        for (i64 q = 0; q < panels; ++q) pack_a_panel<T, MR>(trans_a, A, lda, 0, M, 0, K, q, dst);
    };
    namespace d = gemm_detail;
    switch (tile.mr) {
        case d::kAvx2MR: return pack.template operator()<d::kAvx2MR>();
        case d::kAvx512MR: return pack.template operator()<d::kAvx512MR>();
        case kGenericMR: return pack.template operator()<kGenericMR>();
        default: GS_FAIL("gemm_pack_a: no packing for a tile of ", tile.mr, " rows");
    }
}

template <class T>
void gemm_packed(const GemmTile& tile, i64 M, i64 N, i64 K, T alpha, const T* a, const T* b, T beta, T* C, i64 ldc) {
    if (M == 0 || N == 0) return;
    if (K == 0 || alpha == T(0)) return scale_c(M, N, beta, C, ldc);
    const MicroKernel<T> kernel = isa_kernels<T>(tile.isa).tile;
    const i64 MR = tile.mr, NR = tile.nr;
    for (i64 jr = 0; jr < N; jr += NR)
        for (i64 ir = 0; ir < M; ir += MR)
            kernel(K, a + ir * K, b + jr * K, NR, C + ir * ldc + jr, ldc, std::min(MR, M - ir), std::min(NR, N - jr),
                   alpha, beta, true);
}

template GemmTile gemm_tile<float>();
template GemmTile gemm_tile<double>();
template void gemm_pack_a<float>(const GemmTile&, bool, i64, i64, const float*, i64, float*);
template void gemm_pack_a<double>(const GemmTile&, bool, i64, i64, const double*, i64, double*);
template void gemm_packed<float>(const GemmTile&, i64, i64, i64, float, const float*, const float*, float, float*,
                                 i64);
template void gemm_packed<double>(const GemmTile&, i64, i64, i64, double, const double*, const double*, double,
                                  double*, i64);

template void gemm<float>(bool, bool, i64, i64, i64, float, const float*, i64, const float*, i64, float, float*, i64);
template void gemm<double>(bool, bool, i64, i64, i64, double, const double*, i64, const double*, i64, double,
                           double*, i64);

ScratchBuffer& thread_scratch(ScratchSlot slot) {
    thread_local ScratchBuffer buffers[int(ScratchSlot::count)];
    return buffers[int(slot)];
}

}  // namespace gs::kernels::cpu
