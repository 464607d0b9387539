#pragma once
// Differentiable inverted dropout (kernels/dropout.h): y = x * mask / (1 - p) in training, the
// identity in eval mode or with p == 0. The mask comes from `gen` (seed, stream, offset), which
// the call advances, so a run is reproducible and independent of the thread count.
#include "autograd/variable.h"
#include "tensor/random.h"

namespace gs::autograd {

// p in [0, 1) (checked in both modes). Returns x itself when !training or p == 0.
Variable dropout(const Variable& x, double p, Generator& gen, bool training = true);

}  // namespace gs::autograd
