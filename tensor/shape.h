#pragma once
// Shapes and strides: small vectors of int64 and the arithmetic on them.
#include <cstdint>
#include <string>
#include <vector>

namespace gs {

using Shape = std::vector<std::int64_t>;
using Strides = std::vector<std::int64_t>;

// Product of the sizes (1 for a 0-d shape).
std::int64_t numel(const Shape& shape);
// Row-major strides for `shape`, in elements.
Strides contiguous_strides(const Shape& shape);
// "[2, 3, 4]"
std::string shape_str(const Shape& shape);
// Wraps a possibly negative dim into [0, ndim); throws naming `op` when out of range.
std::int64_t wrap_dim(std::int64_t dim, std::int64_t ndim, const char* op);
// The numpy broadcast of a and b; throws naming `op` and both shapes when they are incompatible.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace gs
