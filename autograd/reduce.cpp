// Forward and backward of the reductions. Every backward first views dy with the reduced dims
// kept as size 1 (keepdim shape), so it broadcasts against x.
#include "autograd/reduce.h"

#include <algorithm>

#include "autograd/function.h"
#include "kernels/elementwise.h"
#include "kernels/reduce.h"

namespace gs::autograd {

namespace k = gs::kernels;

namespace {

// Elements reduced into each output.
std::int64_t reduced_count(const Shape& shape, const std::vector<std::int64_t>& axes) {
    std::int64_t n = 1;
    for (std::int64_t a : axes) n *= shape[std::size_t(a)];
    return n;
}

Tensor scalar_like(double v, const Tensor& t) { return Tensor::full({}, v, t.dtype(), t.device()); }

}  // namespace

Variable sum(const Variable& x, const std::vector<std::int64_t>& axes, bool keepdim) {
    const Shape xs = x.shape();
    const Shape keep = k::reduced_shape(xs, k::normalize_axes(axes, x.dim(), "sum"), true);
    return make_result(k::sum(x.value(), axes, keepdim), {x}, "sum", [xs, keep](const Tensor& dy) {
        return std::vector{dy.reshape(keep).expand(xs).contiguous()};
    });
}

Variable mean(const Variable& x, const std::vector<std::int64_t>& axes, bool keepdim) {
    const Shape xs = x.shape();
    const auto ax = k::normalize_axes(axes, x.dim(), "mean");
    const Shape keep = k::reduced_shape(xs, ax, true);
    const double n = double(reduced_count(xs, ax));
    return make_result(k::mean(x.value(), axes, keepdim), {x}, "mean", [xs, keep, n](const Tensor& dy) {
        // dx = dy / n at every reduced position: one broadcasting division writes all of dx.
        return std::vector{k::binary(k::BinaryOp::div, dy.reshape(keep).expand(xs), scalar_like(n, dy))};
    });
}

Variable var(const Variable& x, const std::vector<std::int64_t>& axes, std::int64_t correction, bool keepdim) {
    const Tensor xv = x.value();
    const auto ax = k::normalize_axes(axes, x.dim(), "var");
    const Shape keep = k::reduced_shape(xv.shape(), ax, true);
    const double n = double(reduced_count(xv.shape(), ax));
    return make_result(k::var(xv, axes, correction, keepdim), {x}, "var", [xv, ax, keep, n, correction](const Tensor& dy) {
        // d var / dx_i = 2 (x_i - mean) / (n - correction); the mean's own dependence on x_i drops
        // out because the deviations sum to zero.
        const Tensor centered = k::binary(k::BinaryOp::sub, xv, k::mean(xv, ax, true));
        // The same clamped denominator as the forward: n <= correction gives inf there and here.
        const Tensor scaled = k::affine(dy.reshape(keep), 2.0 / std::max(n - double(correction), 0.0), 0.0);
        return std::vector{k::binary(k::BinaryOp::mul, centered, scaled)};
    });
}

namespace {

// Even split among ties: dx = [x == y] * dy / count(x == y), per output.
Variable extreme(k::ReduceOp op, const Variable& x, const std::vector<std::int64_t>& axes, bool keepdim) {
    const Tensor xv = x.value();
    const auto ax = k::normalize_axes(axes, x.dim(), k::op_name(op));
    const Shape keep = k::reduced_shape(xv.shape(), ax, true);
    Tensor y = k::reduce(op, xv, axes, keepdim);
    return make_result(y, {x}, k::op_name(op), [xv, ax, keep, y](const Tensor& dy) {
        const Tensor yk = y.reshape(keep);
        // Where the result is NaN, the NaN inputs produced it and take the gradient (x == y is
        // false for NaN, which would silently zero it).
        const Tensor hit = k::where(k::compare(k::CompareOp::ne, yk, yk), k::compare(k::CompareOp::ne, xv, xv),
                                    k::compare(k::CompareOp::eq, xv, yk));  // u8, x's shape
        const Tensor count = k::sum(hit.to(xv.dtype()), ax, true);                // keepdim shape
        const Tensor share = k::binary(k::BinaryOp::div, dy.reshape(keep), count);  // dy / ties
        return std::vector{k::where(hit, share, Tensor::zeros({}, dy.dtype(), dy.device()))};
    });
}

}  // namespace

Variable max(const Variable& x, const std::vector<std::int64_t>& axes, bool keepdim) {
    return extreme(k::ReduceOp::max, x, axes, keepdim);
}
Variable min(const Variable& x, const std::vector<std::int64_t>& axes, bool keepdim) {
    return extreme(k::ReduceOp::min, x, axes, keepdim);
}

}  // namespace gs::autograd
