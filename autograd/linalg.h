#pragma once
// Differentiable matrix products.
#include "autograd/variable.h"

namespace gs::autograd {

// torch.matmul semantics (see kernels/matmul.h): 1-d, 2-d and batched operands with broadcast
// batch dims. Backward: da = dy b^T and db = a^T dy, each summed over the batch dims its operand
// was broadcast along, so the gradients have the operands' own shapes.
Variable matmul(const Variable& a, const Variable& b);

}  // namespace gs::autograd
