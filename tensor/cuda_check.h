#pragma once
// Status checks for CUDA runtime calls, with the file and line of the call. Included only by files
// that are compiled in the CUDA build (*.cu, *_cuda.cpp, *_cublas.cpp, *_cudnn.cpp).
#include <cuda_runtime.h>

#include "tensor/error.h"

// GS_CUDA_CHECK(cudaMemcpyAsync(...)) throws gs::Error naming the call and CUDA's error when the
// status is not cudaSuccess. The error is cleared first so a later, unrelated check does not report
// it again (sticky errors such as an illegal address cannot be cleared and will recur, as they should).
#define GS_CUDA_CHECK(expr)                                                                              \
    do {                                                                                                 \
        const cudaError_t gs_cuda_status_ = (expr);                                                      \
        if (gs_cuda_status_ != cudaSuccess) {                                                            \
            (void)cudaGetLastError();                                                                    \
            ::gs::detail::throw_error(__FILE__, __LINE__, "CUDA error in ", #expr, ": ",                 \
                                      cudaGetErrorName(gs_cuda_status_), " (",                           \
                                      cudaGetErrorString(gs_cuda_status_), ")");                         \
        }                                                                                                \
    } while (0)
