#pragma once
// Differentiable local response normalization across channels (kernels/local_response_norm.h):
// y = x * (k + alpha/size * sum over the channel window of x^2)^-beta, in one fused kernel each way.
#include "autograd/variable.h"
#include "kernels/local_response_norm.h"

namespace gs::autograd {

// x: (N, C, ...) with at least 3 dims. The backward saves x and the scale, nothing else.
Variable local_response_norm(const Variable& x, const kernels::LrnParams& p);

}  // namespace gs::autograd
