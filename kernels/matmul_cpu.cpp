// Batched matmul loops on the CPU: a single folded gemm for the common layouts, else one gemm per
// output matrix (summing over reduced batch entries with beta = 1 in a fixed order). The layout
// and batching decisions are matmul_plan.h's, shared with the cuBLAS loop.
#include <omp.h>

#include "kernels/gemm.h"
#include "kernels/matmul.h"
#include "kernels/matmul_plan.h"
#include "kernels/parallel_cpu.h"

namespace gs::kernels::cpu {
namespace {

using i64 = std::int64_t;
using namespace matmul_plan;

template <class T>
void run(const Tensor& a_in, const Tensor& b_in, Tensor& out) {
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

    switch (choose_fold(a, b, out_batch_numel)) {
        case Fold::rows_folded: gemm<T>(false, lb.trans, F * M, N, K, T(1), A, la.ld, B, lb.ld, T(0), C, N); return;
        case Fold::inner_folded: gemm<T>(true, false, M, N, F * K, T(1), A, la.ld, B, lb.ld, T(0), C, N); return;
        case Fold::none: break;
    }

    const auto groups = batch_groups(a, b, out);
    // Many small products: one thread per output matrix (gemm runs serial inside a parallel
    // region). Few large ones: a serial loop and gemm parallelizes each product.
    const double flops_each = double(M) * double(N) * double(K) * double(F) / double(out_batch_numel);
    const bool parallel_batches = out_batch_numel > 1 && omp_get_max_threads() > 1 && !omp_in_parallel() &&
                                  (out_batch_numel >= 4 * omp_get_max_threads() || flops_each < 1e6);
    const auto product = [&](i64 o) {
        T* c = C + o * M * N;
        bool first = true;
        for (const auto& [oa, obb] : groups[std::size_t(o)]) {
            gemm<T>(la.trans, lb.trans, M, N, K, T(1), A + oa, la.ld, B + obb, lb.ld, first ? T(0) : T(1), c, N);
            first = false;
        }
    };
    parallel_for_if(parallel_batches, out_batch_numel, product);
}

}  // namespace

void matmul_sum_to(const Tensor& a, const Tensor& b, Tensor& out) {
    visit_float(a.dtype(), "matmul", [&](auto tag) { run<decltype(tag)>(a, b, out); });
}

}  // namespace gs::kernels::cpu
