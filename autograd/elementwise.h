#pragma once
// Differentiable elementwise ops: unary maps, scalar pow/clamp/affine, binary ops with numpy
// broadcasting (gradients are summed back to each input's shape), where, and the arithmetic
// operators on Variable. Derivative conventions at kinks follow kernels/elementwise.h:
// relu'(0) = abs'(0) = 0, sign' = 0, clamp passes the gradient on [lo, hi], and maximum/minimum
// split the gradient evenly between tied inputs.
#include "autograd/variable.h"
#include "kernels/elementwise.h"

namespace gs::autograd {

Variable unary(kernels::UnaryOp op, const Variable& x);
Variable neg(const Variable& x);
Variable exp(const Variable& x);
Variable log(const Variable& x);
Variable sqrt(const Variable& x);
Variable abs(const Variable& x);
Variable sign(const Variable& x);  // gradient 0
Variable tanh(const Variable& x);
Variable sigmoid(const Variable& x);
Variable relu(const Variable& x);

Variable pow(const Variable& x, double p);                // x^p, scalar exponent
Variable clamp(const Variable& x, double lo, double hi);  // lo <= hi
Variable affine(const Variable& x, double alpha, double beta);  // alpha * x + beta

// a (op) b with broadcasting; a and b share dtype and device.
Variable binary(kernels::BinaryOp op, const Variable& a, const Variable& b);
Variable add(const Variable& a, const Variable& b);
Variable sub(const Variable& a, const Variable& b);
Variable mul(const Variable& a, const Variable& b);
Variable div(const Variable& a, const Variable& b);
Variable pow(const Variable& a, const Variable& b);  // a^b; d/db needs a > 0
Variable maximum(const Variable& a, const Variable& b);
Variable minimum(const Variable& a, const Variable& b);

// cond (u8, not differentiated) ? a : b, all three broadcast together.
Variable where(const Tensor& cond, const Variable& a, const Variable& b);

// Arithmetic operators. A double operand becomes a 0-d constant of the Variable's dtype.
Variable operator+(const Variable& a, const Variable& b);
Variable operator-(const Variable& a, const Variable& b);
Variable operator*(const Variable& a, const Variable& b);
Variable operator/(const Variable& a, const Variable& b);
Variable operator-(const Variable& a);
Variable operator+(const Variable& a, double s);
Variable operator+(double s, const Variable& a);
Variable operator-(const Variable& a, double s);
Variable operator-(double s, const Variable& a);
Variable operator*(const Variable& a, double s);
Variable operator*(double s, const Variable& a);
Variable operator/(const Variable& a, double s);
Variable operator/(double s, const Variable& a);

}  // namespace gs::autograd
