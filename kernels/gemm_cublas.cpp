// The CUDA GEMM (gemm.h's cuda::gemm and cuda::gemm_strided_batched) on cuBLAS. The row-major
// to column-major translation (operands swapped, C^T = op(B)^T op(A)^T) is explained and tested
// once, in cublas_args.h.
#include <type_traits>

#include "kernels/cublas_args.h"
#include "kernels/cuda_settings.h"
#include "kernels/gemm.h"
#include "kernels/library_handles_cuda.h"
#include "tensor/cuda_context.h"

namespace gs::kernels::cuda {
namespace {

cublasOperation_t op(bool trans) { return trans ? CUBLAS_OP_T : CUBLAS_OP_N; }

// The handle of `device` with its math mode set for this call: TF32 tensor cores only when asked,
// else the default mode, which for f32/f64 uses no reduced-precision products. (f64 GEMMs never
// use TF32 whatever the mode.)
cublasHandle_t handle_for(int device) {
    cublasHandle_t h = cublas_handle(device);
    GS_CUBLAS_CHECK(cublasSetMathMode(h, allow_tf32() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
    return h;
}

void check_args(const char* fn, std::int64_t M, std::int64_t N, std::int64_t K, std::int64_t batch) {
    GS_CHECK(M >= 0 && N >= 0 && K >= 0 && batch >= 0, fn, ": negative size M=", M, " N=", N, " K=", K,
             " batch=", batch);
}

}  // namespace

template <class T>
void gemm(int device, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K, T alpha,
          const T* A, std::int64_t lda, const T* B, std::int64_t ldb, T beta, T* C, std::int64_t ldc) {
    check_args("cuda::gemm", M, N, K, 1);
    if (M == 0 || N == 0) return;
    const cublas_args::ColumnMajorGemm c = cublas_args::from_row_major(trans_a, trans_b, M, N, K, lda, ldb, ldc);
    GS_CHECK(c.valid(), "cuda::gemm: invalid leading dimensions lda=", lda, " ldb=", ldb, " ldc=", ldc, " for M=", M,
             " N=", N, " K=", K, " trans_a=", trans_a, " trans_b=", trans_b);
    CudaDeviceGuard guard(device);
    cublasHandle_t h = handle_for(device);
    if constexpr (std::is_same_v<T, float>)
        GS_CUBLAS_CHECK(cublasSgemm_64(h, op(c.trans_first), op(c.trans_second), c.m, c.n, c.k, &alpha, B, c.ld_first,
                                       A, c.ld_second, &beta, C, c.ldc));
    else
        GS_CUBLAS_CHECK(cublasDgemm_64(h, op(c.trans_first), op(c.trans_second), c.m, c.n, c.k, &alpha, B, c.ld_first,
                                       A, c.ld_second, &beta, C, c.ldc));
}

template <class T>
void gemm_strided_batched(int device, bool trans_a, bool trans_b, std::int64_t M, std::int64_t N, std::int64_t K,
                          T alpha, const T* A, std::int64_t lda, std::int64_t stride_a, const T* B, std::int64_t ldb,
                          std::int64_t stride_b, T beta, T* C, std::int64_t ldc, std::int64_t stride_c,
                          std::int64_t batch) {
    check_args("cuda::gemm_strided_batched", M, N, K, batch);
    if (M == 0 || N == 0 || batch == 0) return;
    const cublas_args::ColumnMajorGemm c = cublas_args::from_row_major(trans_a, trans_b, M, N, K, lda, ldb, ldc);
    GS_CHECK(c.valid(), "cuda::gemm_strided_batched: invalid leading dimensions lda=", lda, " ldb=", ldb, " ldc=", ldc,
             " for M=", M, " N=", N, " K=", K, " trans_a=", trans_a, " trans_b=", trans_b);
    CudaDeviceGuard guard(device);
    cublasHandle_t h = handle_for(device);
    if constexpr (std::is_same_v<T, float>)
        GS_CUBLAS_CHECK(cublasSgemmStridedBatched_64(h, op(c.trans_first), op(c.trans_second), c.m, c.n, c.k, &alpha, B,
                                                     c.ld_first, stride_b, A, c.ld_second, stride_a, &beta, C, c.ldc,
                                                     stride_c, batch));
    else
        GS_CUBLAS_CHECK(cublasDgemmStridedBatched_64(h, op(c.trans_first), op(c.trans_second), c.m, c.n, c.k, &alpha, B,
                                                     c.ld_first, stride_b, A, c.ld_second, stride_a, &beta, C, c.ldc,
                                                     stride_c, batch));
}

template void gemm<float>(int, bool, bool, std::int64_t, std::int64_t, std::int64_t, float, const float*,
                          std::int64_t, const float*, std::int64_t, float, float*, std::int64_t);
template void gemm<double>(int, bool, bool, std::int64_t, std::int64_t, std::int64_t, double, const double*,
                           std::int64_t, const double*, std::int64_t, double, double*, std::int64_t);
template void gemm_strided_batched<float>(int, bool, bool, std::int64_t, std::int64_t, std::int64_t, float,
                                          const float*, std::int64_t, std::int64_t, const float*, std::int64_t,
                                          std::int64_t, float, float*, std::int64_t, std::int64_t, std::int64_t);
template void gemm_strided_batched<double>(int, bool, bool, std::int64_t, std::int64_t, std::int64_t, double,
                                           const double*, std::int64_t, std::int64_t, const double*, std::int64_t,
                                           std::int64_t, double, double*, std::int64_t, std::int64_t, std::int64_t);

}  // namespace gs::kernels::cuda
