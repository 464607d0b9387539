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

}  // namespace cpu

// Raw host pointers can only mean the CPU, so the CPU GEMM is also the gs::kernels entry point.
// (The CUDA backend will call cuBLAS from its own kernels, not through this function.)
using cpu::gemm;

}  // namespace gs::kernels
