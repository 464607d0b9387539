#pragma once
// Elementwise ops: unary maps, scalar pow/clamp/affine, binary arithmetic with numpy broadcasting,
// comparisons and where. Every formula (forward and derivative) lives once in a functor below;
// elementwise_cpu.cpp only loops over them with kernels/map_cpu.h.
//
// NaN convention: NaN inputs give NaN outputs (relu is "x < 0 ? 0 : x", maximum/minimum
// propagate a NaN from either side). Derivatives at kinks: relu'(0) = 0, abs'(0) = 0,
// sign' = 0, clamp passes the gradient on the closed interval [lo, hi].
#include <cmath>
#include <cstdint>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace gs::kernels {

// ---- unary ops ----------------------------------------------------------------------------------
// Each op struct has fwd(x) -> y and grad(x, y, dy) -> dx = dy * f'(x). grad may use the saved
// output y where that is cheaper or more accurate (exp, tanh, sigmoid, sqrt, relu).

struct NegOp {
    template <class T> GS_HOST_DEVICE T fwd(T x) const { return -x; }
    template <class T> GS_HOST_DEVICE T grad(T, T, T dy) const { return -dy; }
};
struct ExpOp {
    template <class T> GS_HOST_DEVICE T fwd(T x) const { return std::exp(x); }
    template <class T> GS_HOST_DEVICE T grad(T, T y, T dy) const { return dy * y; }
};
struct LogOp {
    template <class T> GS_HOST_DEVICE T fwd(T x) const { return std::log(x); }
    template <class T> GS_HOST_DEVICE T grad(T x, T, T dy) const { return dy / x; }
};
struct SqrtOp {
    template <class T> GS_HOST_DEVICE T fwd(T x) const { return std::sqrt(x); }
    template <class T> GS_HOST_DEVICE T grad(T, T y, T dy) const { return dy / (T(2) * y); }
};
// sign(x) in {-1, 0, 1}; NaN stays NaN (the last branch returns x itself).
struct SignOp {
    template <class T> GS_HOST_DEVICE T fwd(T x) const { return x > T(0) ? T(1) : (x < T(0) ? T(-1) : x); }
    template <class T> GS_HOST_DEVICE T grad(T, T, T) const { return T(0); }
};
// |x|; the derivative is sign(x), which is 0 at 0 and NaN for NaN.
struct AbsOp {
    template <class T> GS_HOST_DEVICE T fwd(T x) const { return std::abs(x); }
    template <class T> GS_HOST_DEVICE T grad(T x, T, T dy) const { return dy * SignOp{}.fwd(x); }
};
struct TanhOp {
    template <class T> GS_HOST_DEVICE T fwd(T x) const { return std::tanh(x); }
    template <class T> GS_HOST_DEVICE T grad(T, T y, T dy) const { return dy * (T(1) - y * y); }
};
// 1 / (1 + e^-x), written per sign so that exp never overflows (e^-x for x >= 0, e^x otherwise).
struct SigmoidOp {
    template <class T> GS_HOST_DEVICE T fwd(T x) const {
        if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
        const T e = std::exp(x);  // also reached by NaN, which then propagates
        return e / (T(1) + e);
    }
    template <class T> GS_HOST_DEVICE T grad(T, T y, T dy) const { return dy * y * (T(1) - y); }
};
// "x < 0 ? 0 : x" keeps NaN; the backward gates on the saved output (subgradient 0 at 0).
struct ReluOp {
    template <class T> GS_HOST_DEVICE T fwd(T x) const { return x < T(0) ? T(0) : x; }
    template <class T> GS_HOST_DEVICE T grad(T, T y, T dy) const { return y <= T(0) ? T(0) : dy; }
};

// x^p for a scalar exponent. d/dx = p x^(p-1); p == 0 has derivative 0 everywhere (also at x = 0,
// where p x^(p-1) would be 0 * inf).
struct PowScalarOp {
    double p;
    // p == 2: x * x is the correctly rounded square (libm's pow is only within an ulp of it) and
    // several times cheaper than the call.
    template <class T> GS_HOST_DEVICE T fwd(T x) const { return p == 2.0 ? x * x : std::pow(x, T(p)); }
    template <class T> GS_HOST_DEVICE T grad(T x, T, T dy) const {
        return p == 0.0 ? T(0) : dy * T(p) * (p == 2.0 ? x : std::pow(x, T(p - 1.0)));
    }
};
// min(max(x, lo), hi) with NaN propagated; the gradient passes where lo <= x <= hi.
struct ClampOp {
    double lo, hi;
    template <class T> GS_HOST_DEVICE T fwd(T x) const { return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x); }
    template <class T> GS_HOST_DEVICE T grad(T x, T, T dy) const { return x >= T(lo) && x <= T(hi) ? dy : T(0); }
};
// alpha * x + beta: scalar add, subtract, scale, negate in one op.
struct AffineOp {
    double alpha, beta;
    template <class T> GS_HOST_DEVICE T fwd(T x) const { return T(alpha) * x + T(beta); }
    template <class T> GS_HOST_DEVICE T grad(T, T, T dy) const { return T(alpha) * dy; }
};

// Adapters that turn an op struct into the callables the map loops take.
template <class Op> struct UnaryForward {
    Op op;
    template <class T> GS_HOST_DEVICE T operator()(T x) const { return op.fwd(x); }
};
template <class Op> struct UnaryBackward {
    Op op;
    template <class T> GS_HOST_DEVICE T operator()(T x, T y, T dy) const { return op.grad(x, y, dy); }
};

// ---- binary ops ---------------------------------------------------------------------------------
// Each op struct has fwd(a, b) -> y, grad_a(a, b, y, dy) and grad_b(a, b, y, dy).

struct AddOp {
    template <class T> GS_HOST_DEVICE T fwd(T a, T b) const { return a + b; }
    template <class T> GS_HOST_DEVICE T grad_a(T, T, T, T dy) const { return dy; }
    template <class T> GS_HOST_DEVICE T grad_b(T, T, T, T dy) const { return dy; }
};
struct SubOp {
    template <class T> GS_HOST_DEVICE T fwd(T a, T b) const { return a - b; }
    template <class T> GS_HOST_DEVICE T grad_a(T, T, T, T dy) const { return dy; }
    template <class T> GS_HOST_DEVICE T grad_b(T, T, T, T dy) const { return -dy; }
};
struct MulOp {
    template <class T> GS_HOST_DEVICE T fwd(T a, T b) const { return a * b; }
    template <class T> GS_HOST_DEVICE T grad_a(T, T b, T, T dy) const { return dy * b; }
    template <class T> GS_HOST_DEVICE T grad_b(T a, T, T, T dy) const { return dy * a; }
};
// d(a/b)/db = -a/b^2 = -y/b.
struct DivOp {
    template <class T> GS_HOST_DEVICE T fwd(T a, T b) const { return a / b; }
    template <class T> GS_HOST_DEVICE T grad_a(T, T b, T, T dy) const { return dy / b; }
    template <class T> GS_HOST_DEVICE T grad_b(T, T b, T y, T dy) const { return -dy * y / b; }
};
// a^b: d/da = b a^(b-1) (0 when b == 0), d/db = a^b log(a) (taken as 0 where a == 0 and the
// output is 0, i.e. b > 0, matching the limit; negative a gives NaN as in real arithmetic).
struct PowOp {
    template <class T> GS_HOST_DEVICE T fwd(T a, T b) const { return std::pow(a, b); }
    template <class T> GS_HOST_DEVICE T grad_a(T a, T b, T, T dy) const {
        return b == T(0) ? T(0) : dy * b * std::pow(a, b - T(1));
    }
    template <class T> GS_HOST_DEVICE T grad_b(T a, T, T y, T dy) const {
        return a == T(0) && y == T(0) ? T(0) : dy * y * std::log(a);
    }
};
// max(a, b) with NaN from either side propagated. Ties split the gradient evenly (each side gets
// dy/2), so the gradient is the mean of the two one-sided subgradients.
struct MaximumOp {
    template <class T> GS_HOST_DEVICE T fwd(T a, T b) const { return (a > b || a != a) ? a : b; }
    template <class T> GS_HOST_DEVICE T grad_a(T a, T b, T, T dy) const {
        return a > b ? dy : (a == b ? dy / T(2) : (a != a ? dy : T(0)));
    }
    template <class T> GS_HOST_DEVICE T grad_b(T a, T b, T, T dy) const {
        return b > a ? dy : (a == b ? dy / T(2) : (b != b ? dy : T(0)));
    }
};
struct MinimumOp {
    template <class T> GS_HOST_DEVICE T fwd(T a, T b) const { return (a < b || a != a) ? a : b; }
    template <class T> GS_HOST_DEVICE T grad_a(T a, T b, T, T dy) const {
        return a < b ? dy : (a == b ? dy / T(2) : (a != a ? dy : T(0)));
    }
    template <class T> GS_HOST_DEVICE T grad_b(T a, T b, T, T dy) const {
        return b < a ? dy : (a == b ? dy / T(2) : (b != b ? dy : T(0)));
    }
};

template <class Op> struct BinaryForward {
    Op op;
    template <class T> GS_HOST_DEVICE T operator()(T a, T b) const { return op.fwd(a, b); }
};
template <class Op> struct BinaryGradA {
    Op op;
    template <class T> GS_HOST_DEVICE T operator()(T a, T b, T y, T dy) const { return op.grad_a(a, b, y, dy); }
};
template <class Op> struct BinaryGradB {
    Op op;
    template <class T> GS_HOST_DEVICE T operator()(T a, T b, T y, T dy) const { return op.grad_b(a, b, y, dy); }
};

// ---- comparisons and where ------------------------------------------------------------------------
// Comparisons return 1 or 0 as u8; any comparison with NaN is 0 except ne, which is 1 (IEEE).
struct EqOp { template <class T> GS_HOST_DEVICE std::uint8_t operator()(T a, T b) const { return a == b; } };
struct NeOp { template <class T> GS_HOST_DEVICE std::uint8_t operator()(T a, T b) const { return a != b; } };
struct LtOp { template <class T> GS_HOST_DEVICE std::uint8_t operator()(T a, T b) const { return a < b; } };
struct LeOp { template <class T> GS_HOST_DEVICE std::uint8_t operator()(T a, T b) const { return a <= b; } };
struct GtOp { template <class T> GS_HOST_DEVICE std::uint8_t operator()(T a, T b) const { return a > b; } };
struct GeOp { template <class T> GS_HOST_DEVICE std::uint8_t operator()(T a, T b) const { return a >= b; } };

// cond != 0 ? a : b
struct WhereOp {
    template <class T> GS_HOST_DEVICE T operator()(std::uint8_t c, T a, T b) const { return c ? a : b; }
};

// x + 1 on integers (counters).
struct IncrementOp {
    GS_HOST_DEVICE std::int64_t operator()(std::int64_t x) const { return x + 1; }
};

// ---- public API -----------------------------------------------------------------------------------

enum class UnaryOp : std::uint8_t { neg, exp, log, sqrt, abs, sign, tanh, sigmoid, relu };
enum class BinaryOp : std::uint8_t { add, sub, mul, div, pow, maximum, minimum };
enum class CompareOp : std::uint8_t { eq, ne, lt, le, gt, ge };

const char* op_name(UnaryOp op);    // "relu"
const char* op_name(BinaryOp op);   // "add"
const char* op_name(CompareOp op);  // "lt"

// y = f(x). x: any shape and strides, f32 or f64. Returns a contiguous tensor of x's shape.
Tensor unary(UnaryOp op, const Tensor& x);
// dx = dy * f'(x). x, y = f(x) and dy have one shape, dtype and device (y and x may be undefined
// when the op's grad does not read them: x for neg/exp/sqrt/sign/tanh/sigmoid/relu, y for
// neg/log/abs/sign). Returns a new contiguous dx.
Tensor unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy);

// y = x^p (scalar p) and its backward dx = dy * p x^(p-1).
Tensor pow(const Tensor& x, double p);
Tensor pow_backward(const Tensor& x, double p, const Tensor& dy);
// y = min(max(x, lo), hi), lo <= hi, and its backward (dy where lo <= x <= hi, else 0).
Tensor clamp(const Tensor& x, double lo, double hi);
Tensor clamp_backward(const Tensor& x, double lo, double hi, const Tensor& dy);
// y = alpha * x + beta (scalar add/scale). Its backward is affine(dy, alpha, 0).
Tensor affine(const Tensor& x, double alpha, double beta);

// y = a (op) b with numpy broadcasting: y has broadcast_shapes(a, b). a, b: same floating dtype,
// same device, any strides.
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);
// The gradient of y = a (op) b with respect to a (which = 0) or b (which = 1), at y's broadcast
// shape (the caller sums it down with sum_to). y = binary(op, a, b) and dy have the broadcast
// shape; y may be undefined for ops that do not read it (all but div's grad_b and pow's grad_b).
Tensor binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b, const Tensor& y, const Tensor& dy);

// (a op b) as u8 0/1 with broadcasting; a, b: same dtype (any), same device.
Tensor compare(CompareOp op, const Tensor& a, const Tensor& b);
// cond ? a : b with cond (u8), a and b broadcast together; a, b: same dtype (any).
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);

// t + 1 for an i64 tensor, on t's device: counters such as BatchNorm's num_batches_tracked advance
// on a GPU without a synchronizing round trip to the host.
Tensor increment(const Tensor& t);

namespace detail {

// Calls f(OpStruct{}) with the op's struct: the one table from enum to functor, shared by the CPU
// and CUDA loops.
template <class F>
decltype(auto) visit_unary(UnaryOp op, F&& f) {
    switch (op) {
        case UnaryOp::neg: return f(NegOp{});
        case UnaryOp::exp: return f(ExpOp{});
        case UnaryOp::log: return f(LogOp{});
        case UnaryOp::sqrt: return f(SqrtOp{});
        case UnaryOp::abs: return f(AbsOp{});
        case UnaryOp::sign: return f(SignOp{});
        case UnaryOp::tanh: return f(TanhOp{});
        case UnaryOp::sigmoid: return f(SigmoidOp{});
        case UnaryOp::relu: return f(ReluOp{});
    }
    GS_FAIL("unary: invalid op ", int(op));
}

template <class F>
decltype(auto) visit_binary(BinaryOp op, F&& f) {
    switch (op) {
        case BinaryOp::add: return f(AddOp{});
        case BinaryOp::sub: return f(SubOp{});
        case BinaryOp::mul: return f(MulOp{});
        case BinaryOp::div: return f(DivOp{});
        case BinaryOp::pow: return f(PowOp{});
        case BinaryOp::maximum: return f(MaximumOp{});
        case BinaryOp::minimum: return f(MinimumOp{});
    }
    GS_FAIL("binary: invalid op ", int(op));
}

template <class F>
decltype(auto) visit_compare(CompareOp op, F&& f) {
    switch (op) {
        case CompareOp::eq: return f(EqOp{});
        case CompareOp::ne: return f(NeOp{});
        case CompareOp::lt: return f(LtOp{});
        case CompareOp::le: return f(LeOp{});
        case CompareOp::gt: return f(GtOp{});
        case CompareOp::ge: return f(GeOp{});
    }
    GS_FAIL("compare: invalid op ", int(op));
}

}  // namespace detail

namespace cpu {
// Implementations: outputs are pre-allocated, contiguous, of the broadcast shape, and assigned.
void unary(UnaryOp op, const Tensor& x, Tensor& y);
void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx);
void pow(const Tensor& x, double p, Tensor& y);
void pow_backward(const Tensor& x, double p, const Tensor& dy, Tensor& dx);
void clamp(const Tensor& x, double lo, double hi, Tensor& y);
void clamp_backward(const Tensor& x, double lo, double hi, const Tensor& dy, Tensor& dx);
void affine(const Tensor& x, double alpha, double beta, Tensor& y);
void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& y);
void binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b, const Tensor& y, const Tensor& dy,
                     Tensor& d);
void compare(CompareOp op, const Tensor& a, const Tensor& b, Tensor& out);
void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out);
void increment(const Tensor& t, Tensor& out);
}  // namespace cpu

namespace cuda {
// The same on CUDA tensors (elementwise_cuda.cu): the same functors, issued to the device's stream.
void unary(UnaryOp op, const Tensor& x, Tensor& y);
void unary_backward(UnaryOp op, const Tensor& x, const Tensor& y, const Tensor& dy, Tensor& dx);
void pow(const Tensor& x, double p, Tensor& y);
void pow_backward(const Tensor& x, double p, const Tensor& dy, Tensor& dx);
void clamp(const Tensor& x, double lo, double hi, Tensor& y);
void clamp_backward(const Tensor& x, double lo, double hi, const Tensor& dy, Tensor& dx);
void affine(const Tensor& x, double alpha, double beta, Tensor& y);
void binary(BinaryOp op, const Tensor& a, const Tensor& b, Tensor& y);
void binary_backward(BinaryOp op, int which, const Tensor& a, const Tensor& b, const Tensor& y, const Tensor& dy,
                     Tensor& d);
void compare(CompareOp op, const Tensor& a, const Tensor& b, Tensor& out);
void where(const Tensor& cond, const Tensor& a, const Tensor& b, Tensor& out);
void increment(const Tensor& t, Tensor& out);
}  // namespace cuda

}  // namespace gs::kernels
