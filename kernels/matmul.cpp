// matmul entry points: shape rules, validation and device dispatch.
#include <algorithm>

#include "kernels/dispatch.h"
#include "kernels/matmul.h"

namespace gs::kernels {
namespace {

// Checks dtypes/devices and returns the broadcast batch shape of a (..., M, K) and b (..., K, N).
Shape check_operands(const char* op, const Tensor& a, const Tensor& b) {
    check_same_device(op, {&a, &b});
    check_same_dtype(op, {&a, &b});
    GS_CHECK(is_floating(a.dtype()), op, ": expected f32 or f64 operands, got ", dtype_name(a.dtype()));
    GS_CHECK(a.dim() >= 2 && b.dim() >= 2, op, ": operands must be at least 2-d, got ", shape_str(a.shape()),
             " and ", shape_str(b.shape()));
    GS_CHECK(a.size(-1) == b.size(-2), op, ": shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
             " cannot be multiplied (inner dims ", a.size(-1), " and ", b.size(-2), " differ)");
    const Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
    return broadcast_shapes(ba, bb, op);
}

Shape with_matrix(Shape batch, std::int64_t rows, std::int64_t cols) {
    batch.push_back(rows);
    batch.push_back(cols);
    return batch;
}

}  // namespace

Tensor matmul_sum_to(const Tensor& a, const Tensor& b, const Shape& out_batch) {
    const char* op = "matmul_sum_to";
    const Shape full = check_operands(op, a, b);
    // out_batch must broadcast to full (each of its dims, aligned right, is 1 or equal).
    bool ok = out_batch.size() <= full.size();
    for (std::size_t i = 0; ok && i < out_batch.size(); ++i) {
        const std::int64_t o = out_batch[out_batch.size() - 1 - i], f = full[full.size() - 1 - i];
        ok = o == f || o == 1;
    }
    GS_CHECK(ok, op, ": output batch shape ", shape_str(out_batch), " does not broadcast to the batch shape ",
             shape_str(full), " of operands ", shape_str(a.shape()), " and ", shape_str(b.shape()));
    const std::int64_t M = a.size(-2), K = a.size(-1), N = b.size(-1);
    Tensor out = Tensor::empty(with_matrix(out_batch, M, N), a.dtype(), a.device());
    const Tensor ae = a.expand(with_matrix(full, M, K)), be = b.expand(with_matrix(full, K, N));
    if (use_cuda(op, {&a, &b, &out})) GS_CUDA_CALL(cuda::matmul_sum_to(ae, be, out));
    else cpu::matmul_sum_to(ae, be, out);
    return out;
}

Tensor matmul(const Tensor& a, const Tensor& b) {
    const char* op = "matmul";
    GS_CHECK(a.defined() && b.defined(), op, ": an operand is undefined");
    GS_CHECK(a.dim() >= 1 && b.dim() >= 1, op, ": operands must be at least 1-d, got ", shape_str(a.shape()),
             " and ", shape_str(b.shape()));
    // 1-d operands become matrices (a: a row, b: a column); the added dim is dropped again below.
    const Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
    const Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
    if (a2.size(-1) != b2.size(-2))
        GS_FAIL(op, ": shapes ", shape_str(a.shape()), " and ", shape_str(b.shape()),
                " cannot be multiplied (inner dims ", a2.size(-1), " and ", b2.size(-2), " differ)");
    const Shape full = check_operands(op, a2, b2);
    Tensor out = matmul_sum_to(a2, b2, full);
    if (b.dim() == 1) out = out.squeeze(-1);
    if (a.dim() == 1) out = out.squeeze(-1 - (b.dim() == 1 ? 0 : 1));
    return out;
}

}  // namespace gs::kernels
