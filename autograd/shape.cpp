// Views and joins. Their backward passes only move gradient elements around (expand's sums them),
// so they use the tensor layer's views and copies.
#include "autograd/shape.h"

#include "autograd/function.h"
#include "kernels/reduce.h"

namespace gs::autograd {
namespace {

// The gradient of a view that picked out `part` of x: zeros of x's shape with dy written through
// the same view. `pick` maps a tensor of x's shape to that view.
template <class Pick>
Tensor scatter_view(const Shape& x_shape, DType dtype, Device device, const Tensor& dy, Pick pick) {
    Tensor dx = Tensor::zeros(x_shape, dtype, device);
    Tensor part = pick(dx);
    part.copy_(dy);
    return dx;
}

}  // namespace

Variable reshape(const Variable& x, const Shape& shape) {
    const Shape in = x.shape();
    return make_result(x.value().reshape(shape), {x}, "reshape",
                       [in](const Tensor& dy) { return std::vector{dy.reshape(in)}; });
}

Variable flatten(const Variable& x, std::int64_t start, std::int64_t end) {
    const Shape in = x.shape();
    return make_result(x.value().flatten(start, end), {x}, "flatten",
                       [in](const Tensor& dy) { return std::vector{dy.reshape(in)}; });
}

Variable permute(const Variable& x, const std::vector<std::int64_t>& dims) {
    Tensor y = x.value().permute(dims);
    std::vector<std::int64_t> inverse(dims.size());
    for (std::size_t i = 0; i < dims.size(); ++i) inverse[std::size_t(wrap_dim(dims[i], x.dim(), "permute"))] = std::int64_t(i);
    return make_result(std::move(y), {x}, "permute",
                       [inverse](const Tensor& dy) { return std::vector{dy.permute(inverse)}; });
}

Variable transpose(const Variable& x, std::int64_t a, std::int64_t b) {
    return make_result(x.value().transpose(a, b), {x}, "transpose",
                       [a, b](const Tensor& dy) { return std::vector{dy.transpose(a, b)}; });
}

Variable slice(const Variable& x, std::int64_t dim, std::int64_t start, std::int64_t end, std::int64_t step) {
    const Shape in = x.shape();
    const DType dt = x.dtype();
    const Device dev = x.device();
    return make_result(x.value().slice(dim, start, end, step), {x}, "slice", [=](const Tensor& dy) {
        return std::vector{scatter_view(in, dt, dev, dy, [&](const Tensor& t) { return t.slice(dim, start, end, step); })};
    });
}

Variable narrow(const Variable& x, std::int64_t dim, std::int64_t start, std::int64_t length) {
    const Shape in = x.shape();
    const DType dt = x.dtype();
    const Device dev = x.device();
    return make_result(x.value().narrow(dim, start, length), {x}, "narrow", [=](const Tensor& dy) {
        return std::vector{scatter_view(in, dt, dev, dy, [&](const Tensor& t) { return t.narrow(dim, start, length); })};
    });
}

Variable select(const Variable& x, std::int64_t dim, std::int64_t index) {
    const Shape in = x.shape();
    const DType dt = x.dtype();
    const Device dev = x.device();
    return make_result(x.value().select(dim, index), {x}, "select", [=](const Tensor& dy) {
        return std::vector{scatter_view(in, dt, dev, dy, [&](const Tensor& t) { return t.select(dim, index); })};
    });
}

Variable unsqueeze(const Variable& x, std::int64_t dim) {
    const Shape in = x.shape();
    return make_result(x.value().unsqueeze(dim), {x}, "unsqueeze",
                       [in](const Tensor& dy) { return std::vector{dy.reshape(in)}; });
}

Variable squeeze(const Variable& x, std::int64_t dim) {
    const Shape in = x.shape();
    return make_result(x.value().squeeze(dim), {x}, "squeeze",
                       [in](const Tensor& dy) { return std::vector{dy.reshape(in)}; });
}

Variable expand(const Variable& x, const Shape& shape) {
    const Shape in = x.shape();
    return make_result(x.value().expand(shape), {x}, "expand",
                       [in](const Tensor& dy) { return std::vector{kernels::sum_to(dy, in)}; });
}

Variable contiguous(const Variable& x) {
    return make_result(x.value().contiguous(), {x}, "contiguous", [](const Tensor& dy) { return std::vector{dy}; });
}

Variable concat(const std::vector<Variable>& xs, std::int64_t dim) {
    std::vector<Tensor> values;
    for (const Variable& v : xs) values.push_back(v.value());
    Tensor y = gs::concat(values, dim);
    const std::int64_t d = wrap_dim(dim, y.dim(), "concat");
    std::vector<std::int64_t> sizes;
    for (const Tensor& t : values) sizes.push_back(t.size(d));
    return make_result(std::move(y), xs, "concat", [d, sizes](const Tensor& dy) {
        std::vector<Tensor> grads;
        std::int64_t at = 0;
        for (std::int64_t s : sizes) {
            grads.push_back(dy.narrow(d, at, s));
            at += s;
        }
        return grads;
    });
}

Variable stack(const std::vector<Variable>& xs, std::int64_t dim) {
    GS_CHECK(!xs.empty(), "stack: no variables given");
    const std::int64_t d = wrap_dim(dim, xs[0].dim() + 1, "stack");
    std::vector<Variable> parts;
    for (const Variable& v : xs) parts.push_back(unsqueeze(v, d));
    return concat(parts, d);
}

}  // namespace gs::autograd
