#pragma once
// Differentiable views and joins: reshape, permute, slicing, squeezing, concat and stack.
// Results share storage with their inputs where the tensor op does (see tensor/tensor.h).
#include <cstdint>
#include <vector>

#include "autograd/variable.h"

namespace gs::autograd {

Variable reshape(const Variable& x, const Shape& shape);  // one dim may be -1
Variable flatten(const Variable& x, std::int64_t start = 0, std::int64_t end = -1);
Variable permute(const Variable& x, const std::vector<std::int64_t>& dims);
Variable transpose(const Variable& x, std::int64_t a, std::int64_t b);
Variable slice(const Variable& x, std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step = 1);
Variable narrow(const Variable& x, std::int64_t dim, std::int64_t start, std::int64_t length);
Variable select(const Variable& x, std::int64_t dim, std::int64_t index);
Variable unsqueeze(const Variable& x, std::int64_t dim);
Variable squeeze(const Variable& x, std::int64_t dim);
// Broadcast to `shape` (numpy rules, -1 keeps a size); the gradient sums over the repeated dims.
Variable expand(const Variable& x, const Shape& shape);
Variable contiguous(const Variable& x);
Variable concat(const std::vector<Variable>& xs, std::int64_t dim);
Variable stack(const std::vector<Variable>& xs, std::int64_t dim);

}  // namespace gs::autograd
