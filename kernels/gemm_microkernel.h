#pragma once
// Internal to the CPU GEMM: the micro-kernel interface between the blocked driver (gemm_cpu.cpp,
// baseline x86-64) and the ISA-specific kernels (gemm_avx2.cpp, gemm_avx512.cpp, each compiled with
// its own -m flags). Not a public API; nothing outside those files includes it.
//
// NOTE: the ISA files must not instantiate inline or template functions that other files also use
// (std::min, helpers defined in headers, ...). The linker keeps one copy of such a function, and if
// it keeps the AVX-512 one, baseline code would call it on CPUs without AVX-512. So this header
// only declares plain functions, and the ISA files keep their helpers in anonymous namespaces.
#include <cstdint>

namespace gs::kernels::cpu::gemm_detail {

// One register tile: acc = sum_k a[k*MR + i] * b[k*ldb + j] over k = 0..kc-1 in increasing order,
//   a: a packed MR x kc micro-panel of op(A) (k-major, zero-padded to MR rows),
//   b: a kc x NR micro-panel of op(B), k-major with row stride ldb: packed (ldb = NR, zero-padded to
//      NR columns), or NR whole columns of an untransposed B read in place (ldb = B's row stride),
// then stores the valid mr x nr corner (mr <= MR, nr <= NR) into C (row stride ldc):
//   first:  C = alpha*acc + beta*C  (C not read when beta == 0)
//   !first: C = alpha*acc + C       (the next block of k, added in order)
template <class T>
using MicroKernel = void (*)(std::int64_t kc, const T* a, const T* b, std::int64_t ldb, T* C, std::int64_t ldc,
                             std::int64_t mr, std::int64_t nr, T alpha, T beta, bool first);

// The partial-tile store for kernels whose tile does not fit in C: `tile` holds acc as MR x NR
// row-major (row stride `tile_ld`); applies the same first/beta rule as above to the mr x nr corner.
// Defined in gemm_cpu.cpp (baseline ISA) so the ISA files share it without an inline copy.
void store_edge_tile(const float* tile, std::int64_t tile_ld, float* C, std::int64_t ldc, std::int64_t mr,
                     std::int64_t nr, float alpha, float beta, bool first);
void store_edge_tile(const double* tile, std::int64_t tile_ld, double* C, std::int64_t ldc, std::int64_t mr,
                     std::int64_t nr, double alpha, double beta, bool first);

// Small K, read in place: C (M x N) = alpha * A B + beta * C for 1 <= K <= kSmallK and an
// untransposed B (B[k*ldb + j]), with A(i, k) at A[i*a_rs + k*a_ks] (a_rs = lda, a_ks = 1 for an
// untransposed A; 1 and lda for a transposed one). Nothing is packed; C is stored by the first-block
// rule above. Each element's value is the one the packed kernel of the same ISA gives it for beta ==
// 0, and does not depend on how the caller splits C among calls. Tiles of kSmallKRows rows
// (gemm_small_k.inc). The driver takes this path only while B (K x N) fits in kSmallKMaxB bytes:
// every row tile reads all of it, so it must stay in L1 (1024x1024x16, 64 KB of B, ran at half the
// packed path's speed, 1024x1024x8 at 1.3-1.7x its old speed).
inline constexpr int kSmallK = 16, kSmallKRows = 4, kSmallKMaxB = 32 * 1024;
template <class T>
using SmallKKernel = void (*)(std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* A, std::int64_t a_rs,
                              std::int64_t a_ks, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc);

// AVX2 + FMA (16 ymm registers): 6 x 16 floats / 6 x 8 doubles, 12 accumulators.
inline constexpr int kAvx2MR = 6, kAvx2NRf = 16, kAvx2NRd = 8;
void sgemm_kernel_avx2(std::int64_t kc, const float* a, const float* b, std::int64_t ldb, float* C,
                       std::int64_t ldc, std::int64_t mr, std::int64_t nr, float alpha, float beta, bool first);
void dgemm_kernel_avx2(std::int64_t kc, const double* a, const double* b, std::int64_t ldb, double* C,
                       std::int64_t ldc, std::int64_t mr, std::int64_t nr, double alpha, double beta, bool first);
// Five-row tiles (5 x 16 floats, 10 accumulators) for C with 5 or 10 rows, where the 6-row tile
// would compute padding rows.
inline constexpr int kAvx2MR5 = 5;
void sgemm_kernel_avx2_r5(std::int64_t kc, const float* a, const float* b, std::int64_t ldb, float* C,
                          std::int64_t ldc, std::int64_t mr, std::int64_t nr, float alpha, float beta, bool first);
// Small K: tiles of 4 x 16 floats / 4 x 8 doubles.
void sgemm_small_k_avx2(std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
                        std::int64_t a_rs, std::int64_t a_ks, const float* B, std::int64_t ldb, float beta, float* C,
                        std::int64_t ldc);
void dgemm_small_k_avx2(std::int64_t M, std::int64_t N, std::int64_t K, double alpha, const double* A,
                        std::int64_t a_rs, std::int64_t a_ks, const double* B, std::int64_t ldb, double beta,
                        double* C, std::int64_t ldc);

// AVX-512F (32 zmm registers): 12 x 32 floats / 12 x 16 doubles, 24 accumulators.
inline constexpr int kAvx512MR = 12, kAvx512NRf = 32, kAvx512NRd = 16;
void sgemm_kernel_avx512(std::int64_t kc, const float* a, const float* b, std::int64_t ldb, float* C,
                         std::int64_t ldc, std::int64_t mr, std::int64_t nr, float alpha, float beta, bool first);
void dgemm_kernel_avx512(std::int64_t kc, const double* a, const double* b, std::int64_t ldb, double* C,
                         std::int64_t ldc, std::int64_t mr, std::int64_t nr, double alpha, double beta, bool first);
// Small K: tiles of 4 x 16 floats / 4 x 8 doubles (one zmm wide).
void sgemm_small_k_avx512(std::int64_t M, std::int64_t N, std::int64_t K, float alpha, const float* A,
                          std::int64_t a_rs, std::int64_t a_ks, const float* B, std::int64_t ldb, float beta,
                          float* C, std::int64_t ldc);
void dgemm_small_k_avx512(std::int64_t M, std::int64_t N, std::int64_t K, double alpha, const double* A,
                          std::int64_t a_rs, std::int64_t a_ks, const double* B, std::int64_t ldb, double beta,
                          double* C, std::int64_t ldc);

}  // namespace gs::kernels::cpu::gemm_detail
