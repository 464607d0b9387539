#pragma once
// ReLU on CUDA through cuDNN's activation functions (relu_cudnn.cpp, CUDA build only). The
// elementwise entry points (kernels::unary, unary_backward with UnaryOp::relu) dispatch here for
// CUDA tensors; the formula is ReluOp's in elementwise.h, which cuDNN's ReLU computes too.
#include "tensor/tensor.h"

namespace gs::kernels::cuda {

// x, y: same shape and dtype (f32/f64) on one CUDA device, y contiguous, x contiguous. Assigns
// y = x < 0 ? 0 : x; a NaN in x gives NaN in y (cuDNN's NaN propagation is on).
void relu_forward(const Tensor& x, Tensor& y);

// y (the forward's output), dy, dx: same shape and dtype on one CUDA device, all contiguous.
// Assigns dx = y <= 0 ? 0 : dy (ReluOp::grad; the derivative at 0 is 0).
void relu_backward(const Tensor& y, const Tensor& dy, Tensor& dx);

}  // namespace gs::kernels::cuda
