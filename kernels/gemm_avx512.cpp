// The AVX-512F GEMM micro-kernels (12 x 32 f32, 12 x 16 f64) and small-K product
// (gemm_small_k.inc). This file alone is compiled with -mavx512f -mavx512vl -mfma
// (kernels/CMakeLists.txt); gemm_cpu.cpp calls it only when CPUID reports AVX-512F and the OS saves
// the zmm state.
// The blocking, packing and threading live in gemm_cpu.cpp; see gemm_microkernel.h for the contract.
#if defined(__x86_64__) || defined(__i386__)  // the whole file: other CPUs use the portable kernel
#include <immintrin.h>

#include <cstdint>

#include "kernels/gemm_microkernel.h"

namespace gs::kernels::cpu::gemm_detail {
namespace {  // NOTE: internal linkage on purpose, see gemm_microkernel.h

using i64 = std::int64_t;

// Thin overloads so one kernel template serves float and double.
struct F32 {
    using T = float;
    using V = __m512;
    static constexpr int lanes = 16;
    static V zero() { return _mm512_setzero_ps(); }
    static V set1(T x) { return _mm512_set1_ps(x); }
    static V load(const T* p) { return _mm512_loadu_ps(p); }
    static void store(T* p, V v) { _mm512_storeu_ps(p, v); }
    static V bcast(const T* p) { return _mm512_set1_ps(*p); }  // folds into the FMA's {1to16} operand
    static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
    static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
    static V add(V a, V b) { return _mm512_add_ps(a, b); }
};
struct F64 {
    using T = double;
    using V = __m512d;
    static constexpr int lanes = 8;
    static V zero() { return _mm512_setzero_pd(); }
    static V set1(T x) { return _mm512_set1_pd(x); }
    static V load(const T* p) { return _mm512_loadu_pd(p); }
    static void store(T* p, V v) { _mm512_storeu_pd(p, v); }
    static V bcast(const T* p) { return _mm512_set1_pd(*p); }  // folds into the FMA's {1to8} operand
    static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
    static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
    static V add(V a, V b) { return _mm512_add_pd(a, b); }
};

// MR rows x NV vectors: 12 x 2 accumulators + 2 loads of b + broadcasts of a = 27 of the 32 zmm
// registers; 24 independent FMA chains cover the FMA latency of two pipes. Each accumulator lane sums its k in increasing order, one FMA per k.
template <class S, int MR, int NV>
void kernel(i64 kc, const typename S::T* a, const typename S::T* b, i64 ldb, typename S::T* C, i64 ldc, i64 mr,
            i64 nr, typename S::T alpha, typename S::T beta, bool first) {
    using T = typename S::T;
    using V = typename S::V;
    constexpr int L = S::lanes, NR = NV * L;
    // The tile's rows of C are read (or written) right after the loop: start fetching them now.
    for (i64 i = 0; i < mr; ++i)
        for (int off = 0; off < int(NR * sizeof(T)); off += 64)
            _mm_prefetch(reinterpret_cast<const char*>(C + i * ldc) + off, _MM_HINT_T0);
    V acc[MR][NV];
#pragma GCC unroll 16
    for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[i][v] = S::zero();
#pragma GCC unroll 4
    for (i64 k = 0; k < kc; ++k) {
        V bv[NV];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) bv[v] = S::load(b + v * L);
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            const V ai = S::bcast(a + i);
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) acc[i][v] = S::fma(ai, bv[v], acc[i][v]);
        }
        a += MR;
        b += ldb;
    }
    const V va = S::set1(alpha);
    if (mr == MR && nr == NR) {
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i) {
            T* c = C + i * ldc;
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) {
                V out;
                if (!first) {
                    out = S::fma(va, acc[i][v], S::load(c + v * L));
                } else if (beta == T(0)) {
                    out = S::mul(va, acc[i][v]);  // C is write-only: never loaded
                } else {
                    out = S::fma(va, acc[i][v], S::mul(S::set1(beta), S::load(c + v * L)));
                }
                S::store(c + v * L, out);
            }
        }
    } else {
        alignas(64) T tile[MR * NR];
#pragma GCC unroll 16
        for (int i = 0; i < MR; ++i)
#pragma GCC unroll 4
            for (int v = 0; v < NV; ++v) S::store(tile + i * NR + v * L, acc[i][v]);
        store_edge_tile(tile, NR, C, ldc, mr, nr, alpha, beta, first);
    }
}

#include "kernels/gemm_small_k.inc"

}  // namespace

void sgemm_kernel_avx512(i64 kc, const float* a, const float* b, i64 ldb, float* C, i64 ldc, i64 mr,
                         i64 nr, float alpha, float beta, bool first) {
    kernel<F32, kAvx512MR, kAvx512NRf / F32::lanes>(kc, a, b, ldb, C, ldc, mr, nr, alpha, beta, first);
}

void dgemm_kernel_avx512(i64 kc, const double* a, const double* b, i64 ldb, double* C, i64 ldc, i64 mr,
                         i64 nr, double alpha, double beta, bool first) {
    kernel<F64, kAvx512MR, kAvx512NRd / F64::lanes>(kc, a, b, ldb, C, ldc, mr, nr, alpha, beta, first);
}

void sgemm_small_k_avx512(i64 M, i64 N, i64 K, float alpha, const float* A, i64 a_rs, i64 a_ks, const float* B,
                          i64 ldb, float beta, float* C, i64 ldc) {
    small_k<F32, kSmallKRows, 1>(M, N, K, alpha, A, a_rs, a_ks, B, ldb, beta, C, ldc);
}

void dgemm_small_k_avx512(i64 M, i64 N, i64 K, double alpha, const double* A, i64 a_rs, i64 a_ks,
                          const double* B, i64 ldb, double beta, double* C, i64 ldc) {
    small_k<F64, kSmallKRows, 1>(M, N, K, alpha, A, a_rs, a_ks, B, ldb, beta, C, ldc);
}

}  // namespace gs::kernels::cpu::gemm_detail

#endif
