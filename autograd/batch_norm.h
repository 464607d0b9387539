#pragma once
// Differentiable batch normalization over dim 1 of x: (N, C) or (N, C, H, W). gamma and beta are
// optional (an undefined Variable means absent), giving the affine, shift-only and no-affine
// layers. The running statistics are plain tensors owned by the caller (nn::BatchNorm), never
// differentiated.
#include "autograd/variable.h"
#include "kernels/batch_norm.h"

namespace gs::autograd {

struct BatchNormTrainOutput {
    Variable y;   // x's shape
    Tensor mean;  // (C) batch mean, for the caller's running-mean update
    Tensor var;   // (C) unbiased batch variance (divides by N*H*W - 1), for the running-var update
};

// Training mode: normalizes with the batch statistics, and the gradient flows through them (the
// examples of a batch are coupled). Needs N*H*W >= 2.
// With `running`, the kernel also updates running->mean/var in place (on x's device) and the
// returned var is undefined.
BatchNormTrainOutput batch_norm_train(const Variable& x, const Variable& gamma, const Variable& beta, double eps,
                                      const kernels::BatchNormRunning* running = nullptr);

// Eval mode: normalizes with running_mean/running_var (C), which are constants: each example's
// output depends on that example only.
Variable batch_norm_eval(const Variable& x, const Tensor& running_mean, const Tensor& running_var,
                         const Variable& gamma, const Variable& beta, double eps);

}  // namespace gs::autograd
