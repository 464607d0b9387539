#pragma once
// The one general matrix multiply of the CPU backend: every matmul, linear layer and im2col
// convolution ends here. Row-major, raw pointers, BLAS-like argument list.
#include <cstdint>

namespace gs::kernels {
namespace cpu {

// C = alpha * op(A) * op(B) + beta * C, all row-major.
//   op(A) is M x K: A[i*lda + k] when !trans_a, A[k*lda + i] when trans_a.
//   op(B) is K x N: B[k*ldb + j] when !trans_b, B[j*ldb + k] when trans_b.
//   C is M x N: C[i*ldc + j]; lda/ldb/ldc >= the row length they describe.
// When beta == 0, C is write-only: it is never read, so NaN or garbage in C is overwritten.
// When K == 0 or alpha == 0, A and B are not read (C = beta * C).
// Deterministic: each element of C is summed over k in one fixed order (blocks of k in increasing
// order), whatever the number of OpenMP threads. Runs in parallel over blocks of C unless called
// from inside a parallel region (then it is serial, so callers can parallelize over batches).
// C must not overlap A or B. Instantiated for float and double.
template <class T>
void gemm(bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
          const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc);

extern template void gemm<float>(bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                                 std::int64_t, const float*, std::int64_t, float, float*, std::int64_t);
extern template void gemm<double>(bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*,
                                  std::int64_t, const double*, std::int64_t, double, double*, std::int64_t);

// The instruction set the CPU gemm's inner kernel uses. The default is the best one the CPU
// reports (CPUID), unless the environment variable GRADSCOPE_GEMM_ISA=avx512|avx2|generic names
// another; naming one the CPU cannot run is an error at the first gemm call, never a silent fallback.
// Results differ between ISAs only by rounding (FMA and the k-block size change the sum order);
// with one ISA they are bitwise reproducible whatever the thread count.
enum class GemmIsa { generic, avx2, avx512 };
const char* gemm_isa_name(GemmIsa isa);
// True when this CPU (and OS) can run the kernels of `isa`; generic is always supported.
bool gemm_isa_supported(GemmIsa isa);
// The ISA gemm uses now.
GemmIsa gemm_isa();
// Makes gemm use `isa` from now on (tests and benchmarks compare the paths). Throws gs::Error when
// the CPU cannot run it. Not synchronized with gemm calls running on other threads.
void set_gemm_isa(GemmIsa isa);

// ---- Prepacked operands --------------------------------------------------------------------------
// For callers that build an operand in gemm's packed layout themselves instead of materializing it
// and having gemm copy it again: the im2col convolution gathers its column matrix from the image
// straight into B panels, and packs its weights once per call instead of once per gemm. Layouts,
// for the register tile MR x NR of the kernels in use:
//   A (M x K): ceil(M/MR) panels of MR rows; panel q, at a + q*MR*K, holds op(A)(q*MR + i, k) at
//              [k*MR + i]; rows past M are zero.
//   B (K x N): ceil(N/NR) panels of NR columns; panel q, at b + q*NR*K, holds op(B)(k, q*NR + j) at
//              [k*NR + j]; columns past N are zero.
struct GemmTile {
    GemmIsa isa;
    int mr, nr;
};
// The tile of the ISA gemm uses now. Pass it to the calls below: they use its ISA, so a packing
// stays consistent with its multiply even if set_gemm_isa runs in between.
template <class T>
GemmTile gemm_tile();
// Packs op(A) (M x K, trans_a and lda as in gemm) into dst: ceil(M/MR)*MR*K elements.
template <class T>
void gemm_pack_a(const GemmTile& tile, bool trans_a, std::int64_t M, std::int64_t K, const T* A, std::int64_t lda,
                 T* dst);
// C = alpha * A * B + beta * C for packed A (M x K) and B (K x N), serially on the calling thread,
// with no cache blocking over K (keep K x NR of T within L1). The same sum order and write-only
// rule for beta == 0 as gemm.
template <class T>
void gemm_packed(const GemmTile& tile, std::int64_t M, std::int64_t N, std::int64_t K, T alpha, const T* a,
                 const T* b, T beta, T* C, std::int64_t ldc);

}  // namespace cpu

// Raw host pointers can only mean the CPU, so the CPU GEMM is also the gs::kernels entry point.
// The CUDA GEMM below takes the device explicitly and is called by the CUDA kernels themselves.
using cpu::gemm;

namespace cuda {

// The same row-major contract as cpu::gemm (op(A) M x K, op(B) K x N, C M x N, leading dimensions,
// beta == 0 makes C write-only, C must not overlap A or B), with A, B and C in the memory of CUDA
// device `device`; runs cuBLAS on gs::cuda_stream(device), asynchronously. Full f32/f64 FMA math
// unless allow_tf32() (kernels/cuda_settings.h) lets f32 use TF32 tensor cores. Defined in
// gemm_cublas.cpp (CUDA build only) for float and double.
template <class T>
void gemm(int device, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
          const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc);

// `batch` independent products C_i = alpha op(A_i) op(B_i) + beta C_i with A_i = A + i*stride_a,
// B_i = B + i*stride_b, C_i = C + i*stride_c (a stride of 0 shares one matrix); one cuBLAS call.
// The C_i must not overlap one another.
template <class T>
void gemm_strided_batched(int device, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                          T alpha, const T* A, std::int64_t lda, std::int64_t stride_a, const T* B, std::int64_t ldb,
                          std::int64_t stride_b, T beta, T* C, std::int64_t ldc, std::int64_t stride_c,
                          std::int64_t batch);

}  // namespace cuda

}  // namespace gs::kernels
