// Batched matmul loops: one gemm per output matrix (summing over reduced batch entries with
// beta = 1 in a fixed order), or a single folded gemm for the common layouts.
#include <omp.h>

#include <optional>
#include <vector>

#include "kernels/gemm.h"
#include "kernels/matmul.h"

namespace gs::kernels::cpu {
namespace {

using i64 = std::int64_t;

// How gemm reads a rows x cols matrix with strides (row_stride, col_stride): no copy needed when
// one of the two strides is 1 and the other is a valid leading dimension.
struct GemmOperand {
    bool trans;
    i64 ld;
};

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

// t with its last two dims in a layout gemm can read (a contiguous copy when needed).
Tensor gemm_ready(const Tensor& t) {
    const i64 d = t.dim();
    if (gemm_layout(t.size(d - 2), t.size(d - 1), t.stride(d - 2), t.stride(d - 1))) return t;
    // contiguous() of a broadcast view would materialize the broadcast; copy one slice per batch
    // entry is what we need anyway, so materializing is correct (just not minimal).
    return t.contiguous();
}

GemmOperand layout_of(const Tensor& t) {
    const i64 d = t.dim();
    return *gemm_layout(t.size(d - 2), t.size(d - 1), t.stride(d - 2), t.stride(d - 1));
}

// Whether the batch dims of t (all dims but the last two) together with matrix dim `inner`, read
// with stride `ld` (the leading dimension gemm uses for that dim), merge into one dim: i.e. the
// batch entries of t are stacked along that matrix dim. Size-1 batch dims never break the merge.
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

template <class T>
void run(const Tensor& a_in, const Tensor& b_in, Tensor& out) {
    const i64 nd = a_in.dim();
    const i64 M = a_in.size(-2), K = a_in.size(-1), N = b_in.size(-1);
    const Shape full(a_in.shape().begin(), a_in.shape().end() - 2);
    const i64 F = numel(full);
    const i64 out_batch_numel = out.dim() == 2 ? 1 : numel(Shape(out.shape().begin(), out.shape().end() - 2));
    if (out.numel() == 0) return;
    T* C = out.data<T>();
    if (F == 0 || K == 0) {  // empty sums
        for (i64 i = 0; i < out.numel(); ++i) C[i] = T(0);
        return;
    }
    const Tensor a = gemm_ready(a_in), b = gemm_ready(b_in);
    const GemmOperand la = layout_of(a), lb = layout_of(b);
    const T* A = a.data<T>();
    const T* B = b.data<T>();

    // Fold 1: no reduction, b shared by every batch entry, a's entries stacked along M: one gemm
    // of (F*M) x K by K x N (e.g. a linear layer on (batch, time, features)).
    if (out_batch_numel == F && !la.trans && batch_broadcast(b) && stacks_along(a, nd - 2, la.ld)) {
        gemm<T>(false, lb.trans, F * M, N, K, T(1), A, la.ld, B, lb.ld, T(0), C, N);
        return;
    }
    // Fold 2: everything summed into one matrix, a's entries stacked along K (as columns, a read
    // transposed) and b's along K (as rows): sum_f a_f b_f = [a_1 .. a_F] [b_1; ..; b_F], one gemm
    // with inner size F*K (e.g. the weight gradient of such a linear layer).
    if (out_batch_numel == 1 && F > 1 && la.trans && !lb.trans && stacks_along(a, nd - 1, la.ld) &&
        stacks_along(b, nd - 2, lb.ld)) {
        gemm<T>(true, false, M, N, F * K, T(1), A, la.ld, B, lb.ld, T(0), C, N);
        return;
    }

    // General case: the element offsets of every batch entry, grouped by output matrix. Output
    // dims are aligned right against `full`; a missing or size-1 output dim maps to index 0.
    const i64 nb = i64(full.size());
    const i64 ob = out.dim() - 2;
    std::vector<i64> out_stride(std::size_t(nb), 0);
    {
        i64 s = M * N;
        for (i64 d = nb - 1, od = ob - 1; d >= 0; --d, --od) {
            if (od >= 0 && out.size(od) != 1) out_stride[std::size_t(d)] = s;
            if (od >= 0) s *= out.size(od);
        }
    }
    std::vector<std::vector<std::pair<i64, i64>>> groups(static_cast<std::size_t>(out_batch_numel));
    for (i64 f = 0; f < F; ++f) {
        i64 rem = f, oa = 0, obb = 0, oo = 0;
        for (i64 d = nb - 1; d >= 0; --d) {
            const i64 i = rem % full[std::size_t(d)];
            rem /= full[std::size_t(d)];
            oa += i * a.stride(d);
            obb += i * b.stride(d);
            oo += i * out_stride[std::size_t(d)];
        }
        groups[std::size_t(oo / std::max<i64>(M * N, 1))].push_back({oa, obb});
    }
    // Many small products: one thread per output matrix (gemm runs serial inside a parallel
    // region). Few large ones: a serial loop and gemm parallelizes each product.
    const double flops_each = double(M) * double(N) * double(K) * double(F) / double(out_batch_numel);
    const bool parallel_batches = out_batch_numel > 1 && omp_get_max_threads() > 1 && !omp_in_parallel() &&
                                  (out_batch_numel >= 4 * omp_get_max_threads() || flops_each < 1e6);
#pragma omp parallel for if (parallel_batches) schedule(static)
    for (i64 o = 0; o < out_batch_numel; ++o) {
        T* c = C + o * M * N;
        bool first = true;
        for (const auto& [oa, obb] : groups[std::size_t(o)]) {
            gemm<T>(la.trans, lb.trans, M, N, K, T(1), A + oa, la.ld, B + obb, lb.ld, first ? T(0) : T(1), c, N);
            first = false;
        }
    }
}

}  // namespace

void matmul_sum_to(const Tensor& a, const Tensor& b, Tensor& out) {
    visit_float(a.dtype(), "matmul", [&](auto tag) { run<decltype(tag)>(a, b, out); });
}

}  // namespace gs::kernels::cpu
