// matmul and linear forward and backward.
#include "autograd/linalg.h"

#include "autograd/function.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/reduce.h"

namespace gs::autograd {
namespace {

// The batch dims of a >= 2-d shape (all but the last two).
Shape batch_of(const Shape& s) { return Shape(s.begin(), s.end() - 2); }

}  // namespace

Variable matmul(const Variable& a, const Variable& b) {
    Tensor y = kernels::matmul(a.value(), b.value());
    // Backward works on the >= 2-d forms the kernel used: a 1-d a is a row (1, K), a 1-d b a
    // column (K, 1); dy is viewed with the dims the kernel dropped put back.
    const Tensor a2 = a.dim() == 1 ? a.value().unsqueeze(0) : a.value();
    const Tensor b2 = b.dim() == 1 ? b.value().unsqueeze(1) : b.value();
    const Shape a_shape = a.shape(), b_shape = b.shape();
    const Shape a_batch = batch_of(a2.shape()), b_batch = batch_of(b2.shape());
    Shape y2_shape = broadcast_shapes(a_batch, b_batch, "matmul");
    y2_shape.push_back(a2.size(-2));
    y2_shape.push_back(b2.size(-1));
    // da needs b and db needs a: save each only when the other operand needs its gradient.
    const bool need_a = a.requires_grad(), need_b = b.requires_grad();
    const Tensor saved_a = need_b ? a2 : Tensor(), saved_b = need_a ? b2 : Tensor();
    return make_result(std::move(y), {a, b}, "matmul", [=](const Tensor& dy) {
        const Tensor dy2 = dy.reshape(y2_shape);
        Tensor da, db;
        if (need_a) {
            // da (A..., M, K) = sum over broadcast batches of dy (M, N) b^T (N, K)
            da = kernels::matmul_sum_to(dy2, saved_b.transpose(-1, -2), a_batch).reshape(a_shape);
        }
        if (need_b) {
            // db (B..., K, N) = sum over broadcast batches of a^T (K, M) dy (M, N)
            db = kernels::matmul_sum_to(saved_a.transpose(-1, -2), dy2, b_batch).reshape(b_shape);
        }
        return std::vector{da, db};
    });
}

Variable linear(const Variable& x, const Variable& w, const Variable& b) {
    GS_CHECK(w.dim() == 2, "linear: the weight must be (out, in), got ", w.value().describe());
    const std::int64_t out = w.size(0), in = w.size(1);
    GS_CHECK(x.dim() >= 1 && x.size(-1) == in, "linear: expected input (..., ", in, ") for weight ", w.value().describe(),
             ", got ", x.value().describe());
    GS_CHECK(!b.defined() || b.shape() == Shape{out}, "linear: the bias must be (", out, "), got ",
             b.value().describe());
    const Shape x_shape = x.shape();
    Shape y_shape(x_shape.begin(), x_shape.end() - 1);
    y_shape.push_back(out);
    const Tensor x2 = x.value().reshape({-1, in});  // (M, in)
    Tensor y = kernels::matmul(x2, w.value().transpose(0, 1));
    if (b.defined()) y = kernels::binary(kernels::BinaryOp::add, y, b.value());
    y = y.reshape(y_shape);
    const bool need_x = x.requires_grad(), need_w = w.requires_grad(), need_b = b.defined() && b.requires_grad();
    const Tensor saved_x = need_w ? x2 : Tensor(), saved_w = need_x ? w.value() : Tensor();
    const bool has_b = b.defined();  // captured instead of b, which would keep the bias alive
    std::vector<Variable> inputs{x, w};
    if (has_b) inputs.push_back(b);
    return make_result(std::move(y), inputs, "linear", [=](const Tensor& dy) {
        const Tensor dy2 = dy.reshape({-1, out});  // (M, out)
        std::vector<Tensor> grads(has_b ? 3 : 2);
        if (need_x) grads[0] = kernels::matmul(dy2, saved_w).reshape(x_shape);
        if (need_w) grads[1] = kernels::matmul(dy2.transpose(0, 1), saved_x);
        if (need_b) grads[2] = kernels::sum(dy2, {0});
        return grads;
    });
}

}  // namespace gs::autograd
