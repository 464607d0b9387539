#pragma once
// Differentiable 2-d pooling.
#include "autograd/variable.h"
#include "kernels/pool.h"

namespace gs::autograd {

// y (N, C, OH, OW) = the max over each window of x (N, C, H, W). The gradient flows to the pixel
// each window chose (the first maximum in row-major window order on ties).
Variable max_pool2d(const Variable& x, const kernels::Pool2dGeometry& g);
// y = the mean over each window; with count_include_pad the divisor is the full window size,
// otherwise the number of real pixels in the window.
Variable avg_pool2d(const Variable& x, const kernels::Pool2dGeometry& g, bool count_include_pad = true);

}  // namespace gs::autograd
