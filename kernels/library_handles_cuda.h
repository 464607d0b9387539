#pragma once
// The cuBLAS, cuDNN and cuSOLVER handles of each device, and the status checks for the libraries'
// calls. Included only by files compiled in the CUDA build (*_cublas.cpp, *_cudnn.cpp,
// *_cusolver.cpp, *_cuda.cpp).
#include <cublas_v2.h>
#include <cudnn.h>
#include <cusolverDn.h>

#include "tensor/error.h"

namespace gs::kernels::cuda {

// The cuBLAS handle of CUDA device `index`, created on first use and kept for the life of the
// process, with its stream set to gs::cuda_stream(index) so cuBLAS work is ordered with every
// other gradscope op on that device. The caller must have `index` as the current device (use a
// CudaDeviceGuard): cuBLAS launches on the current device. Its math mode is not fixed here; each
// GEMM sets it from allow_tf32() (see gemm_cublas.cpp).
// NOTE: a cuBLAS handle must not be used by two host threads at once; gradscope issues the work
// of one device from one thread at a time.
cublasHandle_t cublas_handle(int index);

// The cuDNN handle of CUDA device `index`: created on first use, kept, bound to
// gs::cuda_stream(index). Same current-device rule and thread note as cublas_handle.
cudnnHandle_t cudnn_handle(int index);

// The cuSOLVER dense handle of CUDA device `index`: created on first use, kept, bound to
// gs::cuda_stream(index). Same current-device rule and thread note as cublas_handle.
cusolverDnHandle_t cusolver_handle(int index);

namespace detail {
[[noreturn]] void throw_cublas_error(const char* file, int line, const char* expr, cublasStatus_t status);
[[noreturn]] void throw_cudnn_error(const char* file, int line, const char* expr, cudnnStatus_t status);
[[noreturn]] void throw_cusolver_error(const char* file, int line, const char* expr, cusolverStatus_t status);
}  // namespace detail

}  // namespace gs::kernels::cuda

// GS_CUBLAS_CHECK(cublasSgemm_64(...)) throws gs::Error naming the call, cuBLAS's status name and
// description, and the file and line of the call, unless the status is CUBLAS_STATUS_SUCCESS.
#define GS_CUBLAS_CHECK(expr)                                                                           \
    do {                                                                                                \
        const cublasStatus_t gs_cublas_status_ = (expr);                                                \
        if (gs_cublas_status_ != CUBLAS_STATUS_SUCCESS)                                                 \
            ::gs::kernels::cuda::detail::throw_cublas_error(__FILE__, __LINE__, #expr, gs_cublas_status_); \
    } while (0)

// GS_CUDNN_CHECK(cudnnConvolutionForward(...)) throws gs::Error naming the call, cuDNN's status
// name and its last error message (which says which argument it rejected), with file and line.
#define GS_CUDNN_CHECK(expr)                                                                           \
    do {                                                                                               \
        const cudnnStatus_t gs_cudnn_status_ = (expr);                                                 \
        if (gs_cudnn_status_ != CUDNN_STATUS_SUCCESS)                                                  \
            ::gs::kernels::cuda::detail::throw_cudnn_error(__FILE__, __LINE__, #expr, gs_cudnn_status_); \
    } while (0)

// GS_CUSOLVER_CHECK(cusolverDnXpotrf(...)) throws gs::Error naming the call and the status (its
// enum name; cuSOLVER has no status-string function), with file and line.
#define GS_CUSOLVER_CHECK(expr)                                                                             \
    do {                                                                                                    \
        const cusolverStatus_t gs_cusolver_status_ = (expr);                                                \
        if (gs_cusolver_status_ != CUSOLVER_STATUS_SUCCESS)                                                 \
            ::gs::kernels::cuda::detail::throw_cusolver_error(__FILE__, __LINE__, #expr, gs_cusolver_status_); \
    } while (0)
