#pragma once
// Differentiable softmax and log-softmax along one dim (negative dims count from the end).
#include <cstdint>

#include "autograd/variable.h"

namespace gs::autograd {

Variable softmax(const Variable& x, std::int64_t dim);
Variable log_softmax(const Variable& x, std::int64_t dim);

}  // namespace gs::autograd
