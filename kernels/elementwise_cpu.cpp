// CPU loops for kernels/elementwise.h: each function picks the functor for the op and hands it to
// the generic map loop. No formulas here.
#include "kernels/elementwise.h"
#include "kernels/map_cpu.h"

namespace gs::kernels::cpu {

namespace {

template <class Op>
void unary_forward_op(const char* name, Op op, const Tensor& x, Tensor& y) {
    visit_float(x.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        map<T, T>(y, UnaryForward<Op>{op}, {&x});
    });
}

// Stand-ins for saved tensors the op's grad does not read: the functor ignores them.
template <class Op>
void unary_backward_op(const char* name, Op op, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
    const Tensor& xs = x.defined() ? x : dy;
    const Tensor& ys = y.defined() ? y : dy;
    visit_float(dy.dtype(), name, [&](auto tag) {
        using T = decltype(tag);
        map<T, T, T, T>(dx, UnaryBackward<Op>{op}, {&xs, &ys, &dy});
    });
}

}  // namespace

void unary(UnaryOp op, const Tensor& x, Tensor& y) {
    kernels::detail::visit_unary(op, [&](auto o) { unary_forward_op(op_name(op), o, x, y); });
}

void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx) {
    kernels::detail::visit_unary(op, [&](auto o) { unary_backward_op(op_name(op), o, x, y, dy, dx); });
}

void pow(const Tensor& x, double p, Tensor& y) { unary_forward_op("pow", PowScalarOp{p}, x, y); }
void pow_backward(const Tensor& x, double p, const Tensor& dy, Tensor& dx) {
    unary_backward_op("pow_backward", PowScalarOp{p}, x, Tensor(), dy, dx);
}
void clamp(const Tensor& x, double lo, double hi, Tensor& y) { unary_forward_op("clamp", ClampOp{lo, hi}, x, y); }
void clamp_backward(const Tensor& x, double lo, double hi, const Tensor& dy, Tensor& dx) {
    unary_backward_op("clamp_backward", ClampOp{lo, hi}, x, Tensor(), dy, dx);
}
void affine(const Tensor& x, double alpha, double beta, Tensor& y) {
    unary_forward_op("affine", AffineOp{alpha, beta}, x, y);
}

void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& y) {
    kernels::detail::visit_binary(op, [&](auto o) {
        visit_float(a.dtype(), op_name(op), [&](auto tag) {
            using T = decltype(tag);
            map<T, T, T>(y, BinaryForward<decltype(o)>{o}, {&a, &b});
        });
    });
}

void binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b, const Tensor& y, const Tensor& dy,
                     Tensor& d) {
    const Tensor& ys = y.defined() ? y : dy;
    kernels::detail::visit_binary(op, [&](auto o) {
        using Op = decltype(o);
        visit_float(dy.dtype(), op_name(op), [&](auto tag) {
            using T = decltype(tag);
            if (which == 0) map<T, T, T, T, T>(d, BinaryGradA<Op>{o}, {&a, &b, &ys, &dy});
            else map<T, T, T, T, T>(d, BinaryGradB<Op>{o}, {&a, &b, &ys, &dy});
        });
    });
}

void compare(CompareOp op, const Tensor& a, const Tensor& b, Tensor& out) {
    kernels::detail::visit_compare(op, [&](auto o) {
        visit_dtype(a.dtype(), [&](auto tag) {
            using T = decltype(tag);
            map<std::uint8_t, T, T>(out, o, {&a, &b});
        });
    });
}

void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out) {
    visit_dtype(a.dtype(), [&](auto tag) {
        using T = decltype(tag);
        map<T, std::uint8_t, T, T>(out, WhereOp{}, {&cond, &a, &b});
    });
}

void increment(const Tensor& t, Tensor& out) { map<std::int64_t, std::int64_t>(out, IncrementOp{}, {&t}); }

}  // namespace gs::kernels::cpu
