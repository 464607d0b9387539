// Entry points of kernels/elementwise.h: validate, allocate the output, dispatch by device.
#include "kernels/dispatch.h"
#include "kernels/elementwise.h"
#include "kernels/relu_cudnn.h"

namespace gs::kernels {

const char* op_name(UnaryOp op) {
    switch (op) {
        case UnaryOp::neg: return "neg";
        case UnaryOp::exp: return "exp";
        case UnaryOp::log: return "log";
        case UnaryOp::sqrt: return "sqrt";
        case UnaryOp::abs: return "abs";
        case UnaryOp::sign: return "sign";
        case UnaryOp::tanh: return "tanh";
        case UnaryOp::sigmoid: return "sigmoid";
        case UnaryOp::relu: return "relu";
    }
    return "unary?";
}

const char* op_name(BinaryOp op) {
    switch (op) {
        case BinaryOp::add: return "add";
        case BinaryOp::sub: return "sub";
        case BinaryOp::mul: return "mul";
        case BinaryOp::div: return "div";
        case BinaryOp::pow: return "pow";
        case BinaryOp::maximum: return "maximum";
        case BinaryOp::minimum: return "minimum";
    }
    return "binary?";
}

const char* op_name(CompareOp op) {
    switch (op) {
        case CompareOp::eq: return "eq";
        case CompareOp::ne: return "ne";
        case CompareOp::lt: return "lt";
        case CompareOp::le: return "le";
        case CompareOp::gt: return "gt";
        case CompareOp::ge: return "ge";
    }
    return "compare?";
}

namespace {

void check_floating(const char* op, const Tensor& t) {
    GS_CHECK(is_floating(t.dtype()), op, ": expected a floating dtype (f32 or f64), got ", t.describe());
}

// Same dtype for a and b; the message names the op and both dtypes.
void check_pair(const char* op, const Tensor& a, const Tensor& b) {
    GS_CHECK(a.defined() && b.defined(), op, ": an input tensor is undefined");
    GS_CHECK(a.dtype() == b.dtype(), op, ": dtype mismatch, ", dtype_name(a.dtype()), " vs ", dtype_name(b.dtype()),
             " (", a.describe(), " and ", b.describe(), ")");
    check_same_device(op, {&a, &b});
}

// A saved operand of a backward must have dy's shape and dtype (or be undefined when unused).
void check_saved(const char* op, const Tensor& t, const Tensor& dy, const char* what) {
    if (!t.defined()) return;
    GS_CHECK(t.shape() == dy.shape(), op, ": ", what, " has shape ", shape_str(t.shape()), " but dy has ",
             shape_str(dy.shape()));
    GS_CHECK(t.dtype() == dy.dtype(), op, ": ", what, " is ", dtype_name(t.dtype()), " but dy is ",
             dtype_name(dy.dtype()));
    check_same_device(op, {&dy, &t});
}

// Entry checks shared by the unary-shaped forwards (unary, pow, clamp, affine): x defined and
// floating; returns the uninitialized output of x's shape, dtype and device.
Tensor unary_output(const char* op, const Tensor& x) {
    GS_CHECK(x.defined(), op, ": the input tensor is undefined");
    check_floating(op, x);
    return Tensor::empty(x.shape(), x.dtype(), x.device());
}

// The same for the backwards of the scalar-parameter ops (pow, clamp), which read x and dy.
Tensor scalar_op_grad_output(const char* op, const Tensor& x, const Tensor& dy) {
    check_same_device(op, {&x, &dy});
    check_floating(op, dy);
    check_saved(op, x, dy, "x");
    return Tensor::empty(dy.shape(), dy.dtype(), dy.device());
}

bool unary_grad_reads_x(UnaryOp op) {
    return op == UnaryOp::log || op == UnaryOp::abs;
}
bool unary_grad_reads_y(UnaryOp op) {
    return op == UnaryOp::exp || op == UnaryOp::sqrt || op == UnaryOp::tanh || op == UnaryOp::sigmoid ||
           op == UnaryOp::relu;
}

}  // namespace

Tensor unary(UnaryOp op, const Tensor& x) {
    if (op == UnaryOp::relu && x.defined() && x.is_cuda()) {  // cuDNN's ReLU (relu_cudnn.cpp)
        check_floating(op_name(op), x);
        Tensor y = Tensor::empty(x.shape(), x.dtype(), x.device());
        GS_CUDA_CALL(cuda::relu_forward(x.contiguous(), y));
        return y;
    }
    Tensor y = unary_output(op_name(op), x);
    if (use_cuda(op_name(op), {&x, &y})) GS_CUDA_CALL(cuda::unary(op, x, y));
    else cpu::unary(op, x, y);
    return y;
}

Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy) {
    const char* name = op_name(op);
    GS_CHECK(dy.defined(), name, "_backward: dy is undefined");
    const bool cudnn_relu = op == UnaryOp::relu && dy.is_cuda();
    check_floating(name, dy);
    GS_CHECK(!unary_grad_reads_x(op) || x.defined(), name, "_backward: needs the input x");
    GS_CHECK(!unary_grad_reads_y(op) || y.defined(), name, "_backward: needs the output y");
    check_saved(name, x, dy, "x");
    check_saved(name, y, dy, "y");
    Tensor dx = Tensor::empty(dy.shape(), dy.dtype(), dy.device());
    if (cudnn_relu) GS_CUDA_CALL(cuda::relu_backward(y.contiguous(), dy.contiguous(), dx));  // relu_cudnn.cpp
    else if (use_cuda(name, {&dy, &dx})) GS_CUDA_CALL(cuda::unary_backward(op, x, y, dy, dx));
    else cpu::unary_backward(op, x, y, dy, dx);
    return dx;
}

Tensor pow(const Tensor& x, double p) {
    Tensor y = unary_output("pow", x);
    if (use_cuda("pow", {&x, &y})) GS_CUDA_CALL(cuda::pow(x, p, y));
    else cpu::pow(x, p, y);
    return y;
}

Tensor pow_backward(const Tensor& x, double p, const Tensor& dy) {
    Tensor dx = scalar_op_grad_output("pow_backward", x, dy);
    if (use_cuda("pow_backward", {&dy, &dx})) GS_CUDA_CALL(cuda::pow_backward(x, p, dy, dx));
    else cpu::pow_backward(x, p, dy, dx);
    return dx;
}

Tensor clamp(const Tensor& x, double lo, double hi) {
    Tensor y = unary_output("clamp", x);
    GS_CHECK(lo <= hi, "clamp: lo (", lo, ") must not exceed hi (", hi, ")");
    if (use_cuda("clamp", {&x, &y})) GS_CUDA_CALL(cuda::clamp(x, lo, hi, y));
    else cpu::clamp(x, lo, hi, y);
    return y;
}

Tensor clamp_backward(const Tensor& x, double lo, double hi, const Tensor& dy) {
    Tensor dx = scalar_op_grad_output("clamp_backward", x, dy);
    if (use_cuda("clamp_backward", {&dy, &dx})) GS_CUDA_CALL(cuda::clamp_backward(x, lo, hi, dy, dx));
    else cpu::clamp_backward(x, lo, hi, dy, dx);
    return dx;
}

Tensor affine(const Tensor& x, double alpha, double beta) {
    Tensor y = unary_output("affine", x);
    if (use_cuda("affine", {&x, &y})) GS_CUDA_CALL(cuda::affine(x, alpha, beta, y));
    else cpu::affine(x, alpha, beta, y);
    return y;
}

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
    const char* name = op_name(op);
    check_pair(name, a, b);
    check_floating(name, a);
    Tensor y = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name), a.dtype(), a.device());
    if (use_cuda(name, {&a, &b, &y})) GS_CUDA_CALL(cuda::binary(op, a, b, y));
    else cpu::binary(op, a, b, y);
    return y;
}

Tensor binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b, const Tensor& y, const Tensor& dy) {
    const char* name = op_name(op);
    GS_CHECK(which == 0 || which == 1, name, "_backward: which must be 0 (a) or 1 (b), got ", which);
    check_pair(name, a, b);
    check_pair(name, a, dy);
    check_floating(name, dy);
    const Shape out = broadcast_shapes(a.shape(), b.shape(), name);
    GS_CHECK(dy.shape() == out, name, "_backward: dy has shape ", shape_str(dy.shape()), " but a and b broadcast to ",
             shape_str(out));
    const bool reads_y = which == 1 && (op == BinaryOp::div || op == BinaryOp::pow);
    GS_CHECK(!reads_y || y.defined(), name, "_backward: needs the output y");
    check_saved(name, y, dy, "y");
    Tensor d = Tensor::empty(out, dy.dtype(), dy.device());
    if (use_cuda(name, {&a, &b, &dy, &d})) GS_CUDA_CALL(cuda::binary_backward(op, which, a, b, y, dy, d));
    else cpu::binary_backward(op, which, a, b, y, dy, d);
    return d;
}

Tensor compare(CompareOp op, const Tensor& a, const Tensor& b) {
    const char* name = op_name(op);
    check_pair(name, a, b);
    Tensor out = Tensor::empty(broadcast_shapes(a.shape(), b.shape(), name), DType::u8, a.device());
    if (use_cuda(name, {&a, &b, &out})) GS_CUDA_CALL(cuda::compare(op, a, b, out));
    else cpu::compare(op, a, b, out);
    return out;
}

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
    check_pair("where", a, b);
    GS_CHECK(cond.defined(), "where: cond is undefined");
    GS_CHECK(cond.dtype() == DType::u8, "where: cond must be u8, got ", cond.describe());
    check_same_device("where", {&a, &b, &cond});
    const Shape out_shape = broadcast_shapes(cond.shape(), broadcast_shapes(a.shape(), b.shape(), "where"), "where");
    Tensor out = Tensor::empty(out_shape, a.dtype(), a.device());
    if (use_cuda("where", {&cond, &a, &b, &out})) GS_CUDA_CALL(cuda::where(cond, a, b, out));
    else cpu::where(cond, a, b, out);
    return out;
}

Tensor increment(const Tensor& t) {
    GS_CHECK(t.defined() && t.dtype() == DType::i64, "increment: needs an i64 tensor, got ",
             t.defined() ? t.describe() : "undefined");
    Tensor out = Tensor::empty(t.shape(), DType::i64, t.device());
    if (use_cuda("increment", {&t, &out})) GS_CUDA_CALL(cuda::increment(t, out));
    else cpu::increment(t, out);
    return out;
}

}  // namespace gs::kernels
