// Entry points of kernels/reduce.h: read the axes, pick an [A, R, B] layout (a view when the
// reduced dims already form one contiguous block, else a permuted contiguous copy), dispatch.
#include <algorithm>

#include "kernels/dispatch.h"
#include "kernels/reduce.h"

namespace gs::kernels {

const char* op_name(ReduceOp op) {
    switch (op) {
        case ReduceOp::sum: return "sum";
        case ReduceOp::mean: return "mean";
        case ReduceOp::max: return "max";
        case ReduceOp::min: return "min";
    }
    return "reduce?";
}

std::vector<std::int64_t> normalize_axes(const std::vector<std::int64_t>& axes, std::int64_t ndim, const char* op) {
    std::vector<std::int64_t> out;
    if (axes.empty()) {
        for (std::int64_t d = 0; d < ndim; ++d) out.push_back(d);
        return out;
    }
    for (std::int64_t a : axes) {
        GS_CHECK(a >= -ndim && a < ndim, op, ": axis ", a, " is out of range for a ", ndim, "-d tensor (valid: [",
                 -ndim, ", ", ndim, "))");
        const std::int64_t w = a < 0 ? a + ndim : a;
        GS_CHECK(std::find(out.begin(), out.end(), w) == out.end(), op, ": axis ", a, " is repeated");
        out.push_back(w);
    }
    std::sort(out.begin(), out.end());
    return out;
}

Shape reduced_shape(const Shape& shape, const std::vector<std::int64_t>& axes, bool keepdim) {
    Shape out;
    for (std::int64_t d = 0; d < std::int64_t(shape.size()); ++d) {
        const bool reduced = std::find(axes.begin(), axes.end(), d) != axes.end();
        if (!reduced) out.push_back(shape[std::size_t(d)]);
        else if (keepdim) out.push_back(1);
    }
    return out;
}

namespace {

struct Plan {
    Tensor src;  // contiguous, read as [A, R, B]
    std::int64_t A = 1, R = 1, B = 1;
    Shape out_shape;
};

// `axes` normalized (sorted, unique).
Plan make_plan(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
    Plan p;
    p.out_shape = reduced_shape(x.shape(), axes, keepdim);
    const std::int64_t nd = x.dim();
    auto is_reduced = [&](std::int64_t d) { return std::find(axes.begin(), axes.end(), d) != axes.end(); };
    if (x.is_contiguous()) {
        // Size-1 dims may be counted as kept or reduced without changing the memory order, so only
        // the others decide whether the reduced dims form one block: kept* reduced* kept*.
        int phase = 0;  // 0: before the block, 1: inside, 2: after
        bool block = true;
        std::int64_t A = 1, R = 1, B = 1;
        for (std::int64_t d = 0; d < nd; ++d) {
            const std::int64_t n = x.size(d);
            if (n == 1) continue;
            if (is_reduced(d)) {
                if (phase == 2) block = false;
                phase = 1;
                R *= n;
            } else {
                if (phase == 1) phase = 2;
                (phase == 0 ? A : B) *= n;
            }
        }
        if (block) {
            p.src = x;
            p.A = A, p.R = R, p.B = B;
            return p;
        }
    }
    // General case: move the reduced dims last and copy, giving [kept..., reduced...] = [A, R, 1].
    std::vector<std::int64_t> perm;
    std::int64_t A = 1, R = 1;
    for (std::int64_t d = 0; d < nd; ++d)
        if (!is_reduced(d)) perm.push_back(d), A *= x.size(d);
    for (std::int64_t d : axes) perm.push_back(d), R *= x.size(d);
    p.src = x.permute(perm).contiguous();
    p.A = A, p.R = R, p.B = 1;
    return p;
}

void check_input(const char* op, const Tensor& x) {
    GS_CHECK(x.defined(), op, ": the input tensor is undefined");
}

}  // namespace

Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
    const char* name = op_name(op);
    check_input(name, x);
    if (op == ReduceOp::sum || op == ReduceOp::mean)
        GS_CHECK(is_floating(x.dtype()), name, ": expected a floating dtype (f32 or f64), got ", x.describe());
    const std::vector<std::int64_t> ax = normalize_axes(axes, x.dim(), name);
    Plan p = make_plan(x, ax, keepdim);
    Tensor out = Tensor::empty(p.out_shape, x.dtype(), x.device());
    if (out.numel() == 0) return out;
    GS_CHECK(p.R > 0 || op == ReduceOp::sum || op == ReduceOp::mean, name, ": cannot reduce an empty extent of ",
             x.describe(), " (the result has no value)");
    if (use_cuda(name, {&p.src, &out})) GS_CUDA_CALL(cuda::reduce(op, p.src, p.A, p.R, p.B, out));
    else cpu::reduce(op, p.src, p.A, p.R, p.B, out);
    return out;
}

Tensor sum(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
    return reduce(ReduceOp::sum, x, axes, keepdim);
}
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
    return reduce(ReduceOp::mean, x, axes, keepdim);
}
Tensor max(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
    return reduce(ReduceOp::max, x, axes, keepdim);
}
Tensor min(const Tensor& x, const std::vector<std::int64_t>& axes, bool keepdim) {
    return reduce(ReduceOp::min, x, axes, keepdim);
}

Tensor var(const Tensor& x, const std::vector<std::int64_t>& axes, std::int64_t correction, bool keepdim) {
    check_input("var", x);
    GS_CHECK(is_floating(x.dtype()), "var: expected a floating dtype (f32 or f64), got ", x.describe());
    GS_CHECK(correction >= 0, "var: correction must be >= 0, got ", correction);
    const std::vector<std::int64_t> ax = normalize_axes(axes, x.dim(), "var");
    Plan p = make_plan(x, ax, keepdim);
    Tensor out = Tensor::empty(p.out_shape, x.dtype(), x.device());
    if (out.numel() == 0) return out;
    if (use_cuda("var", {&p.src, &out})) GS_CUDA_CALL(cuda::var(p.src, p.A, p.R, p.B, double(correction), out));
    else cpu::var(p.src, p.A, p.R, p.B, double(correction), out);
    return out;
}

namespace {
Tensor arg_reduce(const char* name, bool is_max, const Tensor& x, std::int64_t dim, bool keepdim) {
    check_input(name, x);
    const std::vector<std::int64_t> ax = normalize_axes({dim}, x.dim(), name);
    Plan p = make_plan(x, ax, keepdim);
    Tensor out = Tensor::empty(p.out_shape, DType::i64, x.device());
    if (out.numel() == 0) return out;
    GS_CHECK(p.R > 0, name, ": dim ", dim, " of ", x.describe(), " is empty");
    if (use_cuda(name, {&p.src, &out})) {
        if (is_max) GS_CUDA_CALL(cuda::argmax(p.src, p.A, p.R, p.B, out));
        else GS_CUDA_CALL(cuda::argmin(p.src, p.A, p.R, p.B, out));
    } else if (is_max) {
        cpu::argmax(p.src, p.A, p.R, p.B, out);
    } else {
        cpu::argmin(p.src, p.A, p.R, p.B, out);
    }
    return out;
}
}  // namespace

Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim) { return arg_reduce("argmax", true, x, dim, keepdim); }
Tensor argmin(const Tensor& x, std::int64_t dim, bool keepdim) { return arg_reduce("argmin", false, x, dim, keepdim); }

Tensor sum_to(const Tensor& x, const Shape& shape) {
    check_input("sum_to", x);
    const Shape& xs = x.shape();
    GS_CHECK(shape.size() <= xs.size() && broadcast_shapes(shape, xs, "sum_to") == xs, "sum_to: shape ",
             shape_str(shape), " does not broadcast to ", shape_str(xs));
    const std::size_t lead = xs.size() - shape.size();
    std::vector<std::int64_t> axes;
    for (std::size_t d = 0; d < xs.size(); ++d)
        if (d < lead || (shape[d - lead] == 1 && xs[d] != 1)) axes.push_back(std::int64_t(d));
    if (axes.empty()) return x.clone().view(shape);
    return sum(x, axes, true).view(shape);
}

}  // namespace gs::kernels
