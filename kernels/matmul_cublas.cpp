// Batched matmul on one CUDA device with cuBLAS: the same plan as the CPU loop (matmul_plan.h),
// with each set of equally spaced products issued as one strided-batched GEMM. The row-major to
// column-major mapping is explained once, in cublas_args.h.
#include <vector>

#include "kernels/gemm.h"
#include "kernels/matmul.h"
#include "kernels/matmul_plan.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace gs::kernels::cuda {
namespace {

using i64 = std::int64_t;
using namespace matmul_plan;

template <class T>
void run(const Tensor& a_in, const Tensor& b_in, Tensor& out) {
    const int dev = out.device().index;
    const i64 M = a_in.size(-2), K = a_in.size(-1), N = b_in.size(-1);
    const Shape full(a_in.shape().begin(), a_in.shape().end() - 2);
    const i64 F = numel(full);
    const i64 O = out.dim() == 2 ? 1 : numel(Shape(out.shape().begin(), out.shape().end() - 2));
    if (out.numel() == 0) return;
    T* C = out.data<T>();
    if (F == 0 || K == 0) {  // empty sums; all-zero bytes are +0.0 in IEEE f32/f64
        CudaDeviceGuard guard(dev);
        GS_CUDA_CHECK(cudaMemsetAsync(C, 0, std::size_t(out.numel()) * sizeof(T), cuda_stream(dev)));
        return;
    }
    const Tensor a = gemm_ready(a_in), b = gemm_ready(b_in);
    const GemmOperand la = layout_of(a), lb = layout_of(b);
    const T* A = a.data<T>();
    const T* B = b.data<T>();

    switch (choose_fold(a, b, O)) {
        case Fold::rows_folded: gemm<T>(dev, false, lb.trans, F * M, N, K, T(1), A, la.ld, B, lb.ld, T(0), C, N); return;
        case Fold::inner_folded: gemm<T>(dev, true, false, M, N, F * K, T(1), A, la.ld, B, lb.ld, T(0), C, N); return;
        case Fold::none: break;
    }

    // Member j of every group (the j-th batch entry summed into each output matrix) forms one
    // strided-batched GEMM over the O output matrices when its operand offsets are equally spaced,
    // which they are for any broadcast of dense operands; beta = 0 for j = 0 (assign), 1 after
    // (accumulate), so each output matrix is summed in increasing batch order as on the CPU.
    const auto groups = batch_groups(a, b, out);
    const std::size_t G = groups[0].size();
    std::vector<i64> off_a(static_cast<std::size_t>(O)), off_b(static_cast<std::size_t>(O));
    for (std::size_t j = 0; j < G; ++j) {
        for (std::size_t o = 0; o < std::size_t(O); ++o) {
            off_a[o] = groups[o][j].first;
            off_b[o] = groups[o][j].second;
        }
        const T beta = j == 0 ? T(0) : T(1);
        const auto sa = uniform_stride(off_a), sb = uniform_stride(off_b);
        if (sa && sb) {
            gemm_strided_batched<T>(dev, la.trans, lb.trans, M, N, K, T(1), A + off_a[0], la.ld, *sa, B + off_b[0],
                                    lb.ld, *sb, beta, C, N, M * N, O);
        } else {
            for (std::size_t o = 0; o < std::size_t(O); ++o)
                gemm<T>(dev, la.trans, lb.trans, M, N, K, T(1), A + off_a[o], la.ld, B + off_b[o], lb.ld, beta,
                        C + i64(o) * M * N, N);
        }
    }
}

}  // namespace

void matmul_sum_to(const Tensor& a, const Tensor& b, Tensor& out) {
    visit_float(a.dtype(), "matmul", [&](auto tag) { run<decltype(tag)>(a, b, out); });
}

}  // namespace gs::kernels::cuda
