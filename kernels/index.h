#pragma once
// Index ops: index_select and gather (reads at i64 positions) and their adjoints index_add and
// scatter_add (sums into a fresh zero tensor). Indices must lie in [0, size); anything else,
// including negative values, throws a gs::Error naming the op, the bad value and the valid range.
//
// The adjoints never race: the loops are partitioned by output (every output element is written
// by one thread, adding its contributions in index order), so results are deterministic.
#include <cstdint>

#include "tensor/tensor.h"

namespace gs::kernels {

// out = x with `dim` replaced by the entries of index: out[.., k, ..] = x[.., index[k], ..].
// x: any dtype, any strides; index: i64, 1-d (K), entries in [0, x.size(dim)). out: x's shape
// with size K at dim.
Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index);

// The adjoint of index_select: a new tensor of `shape`, zero except
// out[.., index[k], ..] += src[.., k, ..] (duplicates sum). src: shape with size K at dim.
Tensor index_add(const Shape& shape, std::int64_t dim, const Tensor& index, const Tensor& src);

// torch.gather: out[i][j][k] = x[i][index[i][j][k]][k] for dim = 1 (likewise for other dims).
// index: i64 with x's ndim, index.size(d) <= x.size(d) for d != dim, entries in [0, x.size(dim)).
// out has index's shape and x's dtype; x may be strided.
Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index);

// The adjoint of gather: a new zero tensor of `shape` with out[i][index[i][j][k]][k] += src[i][j][k]
// (dim = 1). index: i64 with len(shape) dims, index.size(d) <= shape[d] for d != dim, entries in
// [0, shape[dim]); src: index.size(d) <= src.size(d) for all d (read where index is defined).
Tensor scatter_add(const Shape& shape, std::int64_t dim, const Tensor& index, const Tensor& src);

namespace cpu {
// Implementations; indices are already validated, outputs pre-allocated and contiguous.
// index_select: x contiguous [O, N, I], index K, out [O, K, I].
void index_select(const Tensor& x, std::int64_t O, std::int64_t N, std::int64_t I, const Tensor& index, Tensor& out);
// index_add: src contiguous [O, K, I], out [O, N, I] (assigned: zeroed, then summed into).
void index_add(const Tensor& src, std::int64_t O, std::int64_t N, std::int64_t I, const Tensor& index, Tensor& out);
// gather/scatter_add: index contiguous; x/src any strides.
void gather(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out);
void scatter_add(const Tensor& src, std::int64_t dim, const Tensor& index, Tensor& out);
}  // namespace cpu
namespace cuda {
// The same on CUDA tensors (index_cuda.cu), with the same determinism (no atomics).
void index_select(const Tensor& x, std::int64_t O, std::int64_t N, std::int64_t I, const Tensor& index, Tensor& out);
void index_add(const Tensor& src, std::int64_t O, std::int64_t N, std::int64_t I, const Tensor& index, Tensor& out);
void gather(const Tensor& x, std::int64_t dim, const Tensor& index, Tensor& out);
void scatter_add(const Tensor& src, std::int64_t dim, const Tensor& index, Tensor& out);
}  // namespace cuda

}  // namespace gs::kernels
