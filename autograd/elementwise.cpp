// Forward and backward of the elementwise ops, together. Each closure captures only the tensors
// its backward reads (see which of x / y the kernel's derivative uses) and computes only the
// gradients that inputs requiring grad need.
#include "autograd/elementwise.h"

#include "autograd/function.h"
#include "kernels/reduce.h"

namespace gs::autograd {

namespace k = gs::kernels;

namespace {

// The gradient of a broadcast: sums g down to the input's shape (no copy when nothing to sum).
Tensor unbroadcast(const Tensor& g, const Shape& shape) { return g.shape() == shape ? g : k::sum_to(g, shape); }

bool grad_reads_x(k::UnaryOp op) { return op == k::UnaryOp::log || op == k::UnaryOp::abs; }
bool grad_reads_y(k::UnaryOp op) {
    return op == k::UnaryOp::exp || op == k::UnaryOp::sqrt || op == k::UnaryOp::tanh || op == k::UnaryOp::sigmoid ||
           op == k::UnaryOp::relu;
}

Variable constant_like(double s, const Variable& like) {
    return Variable(Tensor::full({}, s, like.dtype(), like.device()));
}

}  // namespace

Variable unary(k::UnaryOp op, const Variable& x) {
    Tensor y = k::unary(op, x.value());
    if (op == k::UnaryOp::sign) {
        // Zero derivative: the gradient is zeros of x's shape.
        const Shape s = x.shape();
        return make_result(y, {x}, "sign", [s, dt = x.dtype(), dev = x.device()](const Tensor&) {
            return std::vector{Tensor::zeros(s, dt, dev)};
        });
    }
    const Tensor xs = grad_reads_x(op) ? x.value() : Tensor();
    const Tensor ys = grad_reads_y(op) ? y : Tensor();
    return make_result(y, {x}, k::op_name(op),
                       [op, xs, ys](const Tensor& dy) { return std::vector{k::unary_backward(op, xs, ys, dy)}; });
}

Variable neg(const Variable& x) { return unary(k::UnaryOp::neg, x); }
Variable exp(const Variable& x) { return unary(k::UnaryOp::exp, x); }
Variable log(const Variable& x) { return unary(k::UnaryOp::log, x); }
Variable sqrt(const Variable& x) { return unary(k::UnaryOp::sqrt, x); }
Variable abs(const Variable& x) { return unary(k::UnaryOp::abs, x); }
Variable sign(const Variable& x) { return unary(k::UnaryOp::sign, x); }
Variable tanh(const Variable& x) { return unary(k::UnaryOp::tanh, x); }
Variable sigmoid(const Variable& x) { return unary(k::UnaryOp::sigmoid, x); }
Variable relu(const Variable& x) { return unary(k::UnaryOp::relu, x); }

Variable pow(const Variable& x, double p) {
    const Tensor xv = x.value();
    return make_result(k::pow(xv, p), {x}, "pow", [xv, p](const Tensor& dy) {
        return std::vector{k::pow_backward(xv, p, dy)};
    });
}

Variable clamp(const Variable& x, double lo, double hi) {
    const Tensor xv = x.value();
    return make_result(k::clamp(xv, lo, hi), {x}, "clamp", [xv, lo, hi](const Tensor& dy) {
        return std::vector{k::clamp_backward(xv, lo, hi, dy)};
    });
}

Variable affine(const Variable& x, double alpha, double beta) {
    return make_result(k::affine(x.value(), alpha, beta), {x}, "affine",
                       [alpha](const Tensor& dy) { return std::vector{k::affine(dy, alpha, 0.0)}; });
}

Variable binary(k::BinaryOp op, const Variable& a, const Variable& b) {
    const Tensor av = a.value(), bv = b.value();
    Tensor y = k::binary(op, av, bv);
    const bool need_a = a.requires_grad(), need_b = b.requires_grad();
    // add/sub gradients are dy itself (up to sign): nothing saved.
    if (op == k::BinaryOp::add || op == k::BinaryOp::sub) {
        const Shape as = av.shape(), bs = bv.shape();
        return make_result(y, {a, b}, k::op_name(op), [op, as, bs, need_a, need_b](const Tensor& dy) {
            Tensor da = need_a ? unbroadcast(dy, as) : Tensor();
            Tensor db;
            if (need_b) db = op == k::BinaryOp::add ? unbroadcast(dy, bs) : unbroadcast(k::unary(k::UnaryOp::neg, dy), bs);
            return std::vector{da, db};
        });
    }
    // Save only the operands the requested derivatives read; an unsaved one is replaced in
    // backward by a free stride-0 placeholder of its shape (the functor ignores its values).
    using k::BinaryOp;
    const bool extreme = op == BinaryOp::maximum || op == BinaryOp::minimum;
    const bool save_a = (op == BinaryOp::mul && need_b) || op == BinaryOp::pow || extreme;
    const bool save_b = (op == BinaryOp::mul && need_a) || op == BinaryOp::div || (op == BinaryOp::pow && need_a) || extreme;
    const bool save_y = need_b && (op == BinaryOp::div || op == BinaryOp::pow);
    const Tensor as = save_a ? av : Tensor(), bs = save_b ? bv : Tensor(), ys = save_y ? y : Tensor();
    const Shape a_shape = av.shape(), b_shape = bv.shape();
    return make_result(y, {a, b}, k::op_name(op), [=](const Tensor& dy) {
        auto placeholder = [&](const Shape& s) { return Tensor::zeros({}, dy.dtype(), dy.device()).expand(s); };
        const Tensor A = as.defined() ? as : placeholder(a_shape);
        const Tensor B = bs.defined() ? bs : placeholder(b_shape);
        Tensor da = need_a ? unbroadcast(k::binary_backward(op, 0, A, B, Tensor(), dy), a_shape) : Tensor();
        Tensor db = need_b ? unbroadcast(k::binary_backward(op, 1, A, B, ys, dy), b_shape) : Tensor();
        return std::vector{da, db};
    });
}

Variable add(const Variable& a, const Variable& b) { return binary(k::BinaryOp::add, a, b); }
Variable sub(const Variable& a, const Variable& b) { return binary(k::BinaryOp::sub, a, b); }
Variable mul(const Variable& a, const Variable& b) { return binary(k::BinaryOp::mul, a, b); }
Variable div(const Variable& a, const Variable& b) { return binary(k::BinaryOp::div, a, b); }
Variable pow(const Variable& a, const Variable& b) { return binary(k::BinaryOp::pow, a, b); }
Variable maximum(const Variable& a, const Variable& b) { return binary(k::BinaryOp::maximum, a, b); }
Variable minimum(const Variable& a, const Variable& b) { return binary(k::BinaryOp::minimum, a, b); }

Variable where(const Tensor& cond, const Variable& a, const Variable& b) {
    const Tensor av = a.value(), bv = b.value();
    Tensor y = k::where(cond, av, bv);
    const bool need_a = a.requires_grad(), need_b = b.requires_grad();
    const Shape as = av.shape(), bs = bv.shape();
    return make_result(y, {a, b}, "where", [cond, as, bs, need_a, need_b](const Tensor& dy) {
        const Tensor zero = Tensor::zeros({}, dy.dtype(), dy.device());
        Tensor da = need_a ? unbroadcast(k::where(cond, dy, zero), as) : Tensor();
        Tensor db = need_b ? unbroadcast(k::where(cond, zero, dy), bs) : Tensor();
        return std::vector{da, db};
    });
}

Variable operator+(const Variable& a, const Variable& b) { return add(a, b); }
Variable operator-(const Variable& a, const Variable& b) { return sub(a, b); }
Variable operator*(const Variable& a, const Variable& b) { return mul(a, b); }
Variable operator/(const Variable& a, const Variable& b) { return div(a, b); }
Variable operator-(const Variable& a) { return neg(a); }
Variable operator+(const Variable& a, double s) { return affine(a, 1.0, s); }
Variable operator+(double s, const Variable& a) { return affine(a, 1.0, s); }
Variable operator-(const Variable& a, double s) { return affine(a, 1.0, -s); }
Variable operator-(double s, const Variable& a) { return affine(a, -1.0, s); }
Variable operator*(const Variable& a, double s) { return affine(a, s, 0.0); }
Variable operator*(double s, const Variable& a) { return affine(a, s, 0.0); }
// Division by a scalar is a true division (not a multiply by 1/s), so a / s rounds like a / s.
Variable operator/(const Variable& a, double s) { return div(a, constant_like(s, a)); }
Variable operator/(double s, const Variable& a) { return div(constant_like(s, a), a); }

}  // namespace gs::autograd
