#pragma once
// Differentiable matrix products.
#include "autograd/variable.h"

namespace gs::autograd {

// torch.matmul semantics (see kernels/matmul.h): 1-d, 2-d and batched operands with broadcast
// batch dims. Backward: da = dy b^T and db = a^T dy, each summed over the batch dims its operand
// was broadcast along, so the gradients have the operands' own shapes.
Variable matmul(const Variable& a, const Variable& b);

// The affine map of nn::Linear: y = x w^T + b for x (..., in), w (out, in), b (out) or undefined;
// y is (..., out). One node instead of matmul + transpose + add: the backward forms dw = dy^T x
// directly in w's (out, in) layout (no transposed gradient to copy into .grad) and db as a column
// sum of dy.
Variable linear(const Variable& x, const Variable& w, const Variable& b);

}  // namespace gs::autograd
