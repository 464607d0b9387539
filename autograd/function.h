#pragma once
// make_result: how every differentiable op, built-in or custom, records itself.
//
// An op computes its forward with kernels, then returns
//     make_result(y, {x, w}, "name", [captures](const Tensor& dy) { return std::vector{dx, dw}; });
// The closure captures only what its backward needs (tensors are cheap shared handles) and returns
// one gradient per input, in order, or an undefined Tensor for an input that needs none (check
// Variable::requires_grad() at forward time to skip that work). User code writes custom autograd
// functions - straight-through estimators, "forward-only" layers - the same way.
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace gs::autograd {

// Wraps `value` as a Variable. Records a Node only when grad mode is on and some input requires a
// gradient; otherwise returns a plain leaf that does not require grad.
Variable make_result(Tensor value, const std::vector<Variable>& inputs, std::string name, Node::BackwardFn backward);

}  // namespace gs::autograd
