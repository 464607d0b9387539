// Layout and batching decisions of matmul, shared by the CPU and cuBLAS loops (see matmul_plan.h).
#include "kernels/matmul_plan.h"

#include <algorithm>

namespace gs::kernels::matmul_plan {

using i64 = std::int64_t;

std::optional<GemmOperand> gemm_layout(i64 rows, i64 cols, i64 row_stride, i64 col_stride) {
    // Row-major, element (i, j) at i*ld + j. A single row never uses ld; a single column has no
    // column stride to speak of.
    if ((col_stride == 1 || cols <= 1) && (rows <= 1 || row_stride >= std::max<i64>(cols, 1)))
        return GemmOperand{false, rows <= 1 ? std::max<i64>(cols, 1) : row_stride};
    // Transposed storage, element (i, j) at j*ld + i.
    if ((row_stride == 1 || rows <= 1) && (cols <= 1 || col_stride >= std::max<i64>(rows, 1)))
        return GemmOperand{true, cols <= 1 ? std::max<i64>(rows, 1) : col_stride};
    return std::nullopt;
}

Tensor gemm_ready(const Tensor& t) {
    const i64 d = t.dim();
    if (gemm_layout(t.size(d - 2), t.size(d - 1), t.stride(d - 2), t.stride(d - 1))) return t;
    // contiguous() of a broadcast view materializes the broadcast: correct, not minimal.
    return t.contiguous();
}

GemmOperand layout_of(const Tensor& t) {
    const i64 d = t.dim();
    return *gemm_layout(t.size(d - 2), t.size(d - 1), t.stride(d - 2), t.stride(d - 1));
}

bool stacks_along(const Tensor& t, i64 inner, i64 ld) {
    i64 expect = ld * t.size(inner);
    for (i64 d = t.dim() - 3; d >= 0; --d) {
        if (t.size(d) == 1) continue;
        if (t.stride(d) != expect) return false;
        expect *= t.size(d);
    }
    return true;
}

bool batch_broadcast(const Tensor& t) {
    for (i64 d = 0; d + 2 < t.dim(); ++d)
        if (t.size(d) != 1 && t.stride(d) != 0) return false;
    return true;
}

Fold choose_fold(const Tensor& a, const Tensor& b, i64 out_batch_numel) {
    const i64 nd = a.dim();
    i64 F = 1;
    for (i64 d = 0; d + 2 < nd; ++d) F *= a.size(d);
    const GemmOperand la = layout_of(a), lb = layout_of(b);
    if (out_batch_numel == F && !la.trans && batch_broadcast(b) && stacks_along(a, nd - 2, la.ld))
        return Fold::rows_folded;
    if (out_batch_numel == 1 && F > 1 && la.trans && !lb.trans && stacks_along(a, nd - 1, la.ld) &&
        stacks_along(b, nd - 2, lb.ld))
        return Fold::inner_folded;
    return Fold::none;
}

std::vector<std::vector<std::pair<i64, i64>>> batch_groups(const Tensor& a, const Tensor& b, const Tensor& out) {
    const Shape full(a.shape().begin(), a.shape().end() - 2);
    const i64 nb = i64(full.size()), ob = out.dim() - 2;
    i64 F = 1, O = 1;
    for (const i64 s : full) F *= s;
    for (i64 d = 0; d < ob; ++d) O *= out.size(d);
    // The output matrix index advanced by one step along each batch dim of `full` (0 where out
    // has a size-1 or missing dim there: those entries sum into one matrix).
    std::vector<i64> out_step(std::size_t(nb), 0);
    {
        i64 s = 1;
        for (i64 d = nb - 1, od = ob - 1; d >= 0; --d, --od) {
            if (od >= 0 && out.size(od) != 1) out_step[std::size_t(d)] = s;
            if (od >= 0) s *= out.size(od);
        }
    }
    std::vector<std::vector<std::pair<i64, i64>>> groups(static_cast<std::size_t>(O));
    for (i64 f = 0; f < F; ++f) {
        i64 rem = f, oa = 0, obb = 0, oo = 0;
        for (i64 d = nb - 1; d >= 0; --d) {
            const i64 i = rem % full[std::size_t(d)];
            rem /= full[std::size_t(d)];
            oa += i * a.stride(d);
            obb += i * b.stride(d);
            oo += i * out_step[std::size_t(d)];
        }
        groups[std::size_t(oo)].push_back({oa, obb});
    }
    return groups;
}

std::optional<i64> uniform_stride(const std::vector<i64>& v) {
    if (v.size() <= 1) return i64(0);
    const i64 s = v[1] - v[0];
    for (std::size_t i = 2; i < v.size(); ++i)
        if (v[i] - v[i - 1] != s) return std::nullopt;
    return s;
}

}  // namespace gs::kernels::matmul_plan
