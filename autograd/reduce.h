#pragma once
// Differentiable reductions over a set of axes (empty = all, negative allowed, keepdim keeps
// reduced dims as size 1), with the same reading of `axes` as kernels/reduce.h.
//
// max/min: the gradient of each output is split EVENLY among all input elements equal to it
// (ties share it; with no ties it all goes to the arg-extreme element). Where an output is NaN,
// no input compares equal to it and its gradient is 0.
#include <cstdint>
#include <vector>

#include "autograd/variable.h"

namespace gs::autograd {

Variable sum(const Variable& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);
Variable mean(const Variable& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);
// sum((x - mean)^2) / (n - correction); correction = 1 is the unbiased estimator.
Variable var(const Variable& x, const std::vector<std::int64_t>& axes = {}, std::int64_t correction = 1,
             bool keepdim = false);
Variable max(const Variable& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);
Variable min(const Variable& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);

}  // namespace gs::autograd
