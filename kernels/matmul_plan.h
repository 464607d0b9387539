#pragma once
// How a batched matmul maps onto GEMM calls, shared by the CPU loop (matmul_cpu.cpp) and the cuBLAS
// one (matmul_cublas.cpp): which operand layouts a GEMM reads without a copy, when a whole batch
// folds into one GEMM, and which batch entries sum into which output matrix. Pure stride
// arithmetic on tensor metadata; reads no elements, so it is tested on the CPU for both backends.
#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace gs::kernels::matmul_plan {

// How a row-major GEMM reads a rows x cols matrix: element (i, j) at i*ld + j (trans false) or
// j*ld + i (trans true).
struct GemmOperand {
    bool trans;
    std::int64_t ld;
};

// The GemmOperand for a matrix with strides (row_stride, col_stride), or nullopt when neither
// stride is 1 (the matrix needs a copy). A single row or column accepts either reading.
std::optional<GemmOperand> gemm_layout(std::int64_t rows, std::int64_t cols, std::int64_t row_stride,
                                       std::int64_t col_stride);

// t (at least 2-d) when its last two dims have a gemm_layout, else t.contiguous().
Tensor gemm_ready(const Tensor& t);
// The layout of the last two dims of a gemm_ready tensor.
GemmOperand layout_of(const Tensor& t);

// Whether the batch dims of t (all but the last two) and its matrix dim `inner`, read with leading
// dimension `ld`, merge into one dim: t's batch entries are stacked along that matrix dim.
bool stacks_along(const Tensor& t, std::int64_t inner, std::int64_t ld);
// Whether every batch dim of t has size 1 or stride 0 (one matrix shared by the whole batch).
bool batch_broadcast(const Tensor& t);

// One GEMM for the whole batch, when the layouts allow it (the same conditions on both backends).
//   rows_folded: no reduction, b shared by the batch, a's entries stacked along M (not transposed):
//                one GEMM of (F*M) x K by K x N (a linear layer on (batch, time, features)).
//   inner_folded: everything summed into one matrix, a's entries stacked along K read transposed
//                and b's along K: one GEMM with inner size F*K (that layer's weight gradient).
enum class Fold { none, rows_folded, inner_folded };
// a (F..., M, K) and b (F..., K, N) gemm_ready and expanded to the full batch; out_batch_numel the
// number of output matrices.
Fold choose_fold(const Tensor& a, const Tensor& b, std::int64_t out_batch_numel);

// For each output matrix o (row-major over out's batch dims), the element offsets (into a and b)
// of the batch entries that sum into it, in increasing batch order. out: (O..., M, N) with O...
// aligned right against a's batch dims F... (a missing or size-1 dim of O... sums over that dim).
// Every group has the same size F / O.
std::vector<std::vector<std::pair<std::int64_t, std::int64_t>>> batch_groups(const Tensor& a, const Tensor& b,
                                                                             const Tensor& out);

// The stride s with v[i] = v[0] + i*s for all i, or nullopt (a single value has stride 0), so that
// one strided-batched GEMM can run a set of products.
std::optional<std::int64_t> uniform_stride(const std::vector<std::int64_t>& v);

}  // namespace gs::kernels::matmul_plan
