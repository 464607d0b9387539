#pragma once
// Matrix products of tensors (torch.matmul semantics) on top of kernels::gemm (CPU) and cuBLAS (CUDA).
#include "tensor/tensor.h"

namespace gs::kernels {

// torch.matmul: a and b are f32 or f64 with one dtype, at least 1-d.
//   (K) x (K)                 -> 0-d dot product
//   (M, K) x (K, N)           -> (M, N)
//   (K) x (..., K, N)         -> (..., N)      (a is treated as (1, K), the 1 dropped after)
//   (..., M, K) x (K)         -> (..., M)      (b is treated as (K, 1), the 1 dropped after)
//   (..., M, K) x (..., K, N) -> (B..., M, N)  with the batch dims broadcast (numpy rules).
// Views whose last two dims have a unit stride in either dim (e.g. transposes) are passed to gemm
// with a transpose flag instead of being copied; other layouts are made contiguous first.
// Throws naming both shapes when the inner dims or batch dims do not match.
Tensor matmul(const Tensor& a, const Tensor& b);

// The batched product with a reduction over broadcast batch entries, for matmul's backward:
//   a: (A..., M, K), b: (B..., K, N), both at least 2-d; let F... = broadcast(A..., B...).
//   out_batch: a shape that broadcasts to F... (e.g. the batch shape of one original operand).
// Returns out with shape out_batch + (M, N) and out[o] = sum of a[f] @ b[f] over every batch index
// f of F... that broadcasting maps onto o (a dim of size 1 or a missing leading dim in out_batch
// sums over that dim of F...). Each output matrix is summed in one fixed order.
Tensor matmul_sum_to(const Tensor& a, const Tensor& b, const Shape& out_batch);

namespace cpu {
// The loop behind both entry points: a, b already expanded to full_batch + matrix dims; out is
// contiguous with shape out_batch + (M, N). Assigns every element of out.
void matmul_sum_to(const Tensor& a, const Tensor& b, Tensor& out);
}  // namespace cpu

namespace cuda {
// The same contract on one CUDA device, with cuBLAS (matmul_cublas.cpp): strided-batched GEMMs,
// summed entries accumulated with beta = 1 in increasing batch order (deterministic).
void matmul_sum_to(const Tensor& a, const Tensor& b, Tensor& out);
}  // namespace cuda

}  // namespace gs::kernels
