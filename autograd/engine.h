#pragma once
// The single backward engine: iterative topological order, gradients summed into each node
// exactly once, graph released after use unless retained.
#include <vector>

#include "autograd/variable.h"

namespace gs::autograd {

// Accumulates d(sum_i <seeds[i], outputs[i]>) into the .grad of every leaf that requires grad.
// An undefined seed means 1 for a one-element output (any other shape throws).
void backward(const std::vector<Variable>& outputs, const std::vector<Tensor>& seeds = {}, bool retain_graph = false);

// Functional form: returns d(sum_i <seeds[i], outputs[i]>)/d(inputs[j]) for each input without
// touching any .grad. An input the outputs do not depend on gets zeros of its shape.
std::vector<Tensor> grad(const std::vector<Variable>& outputs, const std::vector<Variable>& inputs,
                         const std::vector<Tensor>& seeds = {}, bool retain_graph = false);

}  // namespace gs::autograd
