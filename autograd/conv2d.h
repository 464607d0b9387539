#pragma once
// Differentiable 2-d convolution.
#include "autograd/variable.h"
#include "kernels/conv2d.h"

namespace gs::autograd {

// y (N, K, OH, OW) = conv2d(x (N, C, H, W), w (K, C/groups, R, S)) + b (K); b may be an undefined
// Variable (no bias). Geometry as in kernels/conv2d.h. Backward computes only the gradients that
// are needed: dx from (dy, w), dw from (dy, x), db from dy.
Variable conv2d(const Variable& x, const Variable& w, const Variable& b, const kernels::Conv2dGeometry& g);

}  // namespace gs::autograd
