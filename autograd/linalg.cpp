// matmul forward and backward.
#include "autograd/linalg.h"

#include "autograd/function.h"
#include "kernels/matmul.h"

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

}  // namespace gs::autograd
