#pragma once
// Differentiable index ops. Indices are constant i64 tensors (no gradient); the semantics and
// range checks are those of kernels/index.h.
#include <cstdint>

#include "autograd/variable.h"

namespace gs::autograd {

// out[.., k, ..] = x[.., index[k], ..]; dx = index_add(dy) (duplicate indices sum).
Variable index_select(const Variable& x, std::int64_t dim, const Tensor& index);
// torch.gather; dx = scatter_add(dy) (duplicates sum).
Variable gather(const Variable& x, std::int64_t dim, const Tensor& index);
// A new zero tensor of `shape` with src added at index (torch's scatter_add on zeros); the
// gradient w.r.t. src is gather(dy) where index is defined and 0 in any part of src beyond it.
Variable scatter_add(const Shape& shape, std::int64_t dim, const Tensor& index, const Variable& src);
// The adjoint of index_select as an op: zeros(shape) with src slices added at index along dim;
// the gradient w.r.t. src is index_select(dy).
Variable index_add(const Shape& shape, std::int64_t dim, const Tensor& index, const Variable& src);

}  // namespace gs::autograd
