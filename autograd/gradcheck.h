#pragma once
// gradcheck: compares an op's backward with central differences, in f64 on the CPU.
//
// The objective is L = sum_k w_k * y_k with w drawn once from N(0, 1), not sum_k y_k: for ops whose
// outputs sum to a constant (softmax, training-mode BatchNorm) the all-ones objective has a zero
// gradient, and a broken backward that returns zeros would pass. Every element of every checked
// input is perturbed, so keep shapes small.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "autograd/variable.h"

namespace gs::autograd {

struct GradcheckOptions {
    double eps = 1e-6;   // central-difference step
    double atol = 1e-5;  // pass when |analytic - numeric| <= atol + rtol * |numeric|
    double rtol = 1e-3;  // (PyTorch's documented f64 defaults)
    std::uint64_t seed = 1234;  // for the projection weights w
    // Inputs to differentiate with respect to; empty = every floating input.
    std::vector<std::size_t> wrt;
};

struct GradcheckResult {
    bool ok = true;
    double worst_error = 0;  // max over elements of |analytic - numeric| - (atol + rtol*|numeric|)
    std::string message;     // the worst element: op, input, index, analytic and numeric values
};

using GradcheckFn = std::function<Variable(const std::vector<Variable>&)>;

// Checks d(sum w*f(inputs))/d(inputs) for every element of the checked inputs, which must be f64
// CPU tensors. `name` labels the report.
GradcheckResult gradcheck(const std::string& name, const GradcheckFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = {});

}  // namespace gs::autograd
