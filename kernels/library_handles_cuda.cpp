// One cuBLAS, one cuDNN and one cuSOLVER handle per device, created lazily and bound to the
// device's stream.
#include "kernels/library_handles_cuda.h"

#include <mutex>
#include <vector>

#include "tensor/cuda_context.h"

namespace gs::kernels::cuda {

namespace detail {

void throw_cublas_error(const char* file, int line, const char* expr, cublasStatus_t status) {
    ::gs::detail::throw_error(file, line, "cuBLAS error in ", expr, ": ", cublasGetStatusName(status), " (",
                              cublasGetStatusString(status), ")");
}

void throw_cudnn_error(const char* file, int line, const char* expr, cudnnStatus_t status) {
    // The last error message says which argument or configuration cuDNN rejected; the status
    // name alone (e.g. CUDNN_STATUS_BAD_PARAM) rarely does.
    char message[512] = {0};
    cudnnGetLastErrorString(message, sizeof message);
    ::gs::detail::throw_error(file, line, "cuDNN error in ", expr, ": ", cudnnGetErrorString(status),
                              message[0] ? " (" : "", message, message[0] ? ")" : "");
}

namespace {
const char* cusolver_status_name(cusolverStatus_t s) {
    switch (s) {
        case CUSOLVER_STATUS_SUCCESS: return "CUSOLVER_STATUS_SUCCESS";
        case CUSOLVER_STATUS_NOT_INITIALIZED: return "CUSOLVER_STATUS_NOT_INITIALIZED";
        case CUSOLVER_STATUS_ALLOC_FAILED: return "CUSOLVER_STATUS_ALLOC_FAILED";
        case CUSOLVER_STATUS_INVALID_VALUE: return "CUSOLVER_STATUS_INVALID_VALUE";
        case CUSOLVER_STATUS_ARCH_MISMATCH: return "CUSOLVER_STATUS_ARCH_MISMATCH";
        case CUSOLVER_STATUS_EXECUTION_FAILED: return "CUSOLVER_STATUS_EXECUTION_FAILED";
        case CUSOLVER_STATUS_INTERNAL_ERROR: return "CUSOLVER_STATUS_INTERNAL_ERROR";
        case CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED: return "CUSOLVER_STATUS_MATRIX_TYPE_NOT_SUPPORTED";
        case CUSOLVER_STATUS_NOT_SUPPORTED: return "CUSOLVER_STATUS_NOT_SUPPORTED";
        case CUSOLVER_STATUS_INVALID_WORKSPACE: return "CUSOLVER_STATUS_INVALID_WORKSPACE";
        default: return "cuSOLVER status";
    }
}
}  // namespace

void throw_cusolver_error(const char* file, int line, const char* expr, cusolverStatus_t status) {
    ::gs::detail::throw_error(file, line, "cuSOLVER error in ", expr, ": ", cusolver_status_name(status), " (",
                              int(status), ")");
}

}  // namespace detail

namespace {

// The handle of device `index`, created by `create` under a lock on first use. Each library's
// handles live in this template's statics for its own Handle type. They are never destroyed:
// destroying them from a static destructor can run after the CUDA driver has shut down (the same
// choice tensor/cuda_context.cpp makes for the streams).
template <class Handle, class Create>
Handle lazy_handle(int index, Create create) {
    static std::mutex mutex;
    static std::vector<Handle> handles;
    std::lock_guard<std::mutex> lock(mutex);
    GS_CHECK(index >= 0, "invalid CUDA device index ", index);
    if (index >= int(handles.size())) handles.resize(std::size_t(index) + 1, nullptr);
    Handle& h = handles[std::size_t(index)];
    if (h == nullptr) {
        // Creation binds the handle to the current device; make it `index` whatever the caller did.
        CudaDeviceGuard guard(index);
        h = create(cuda_stream(index));
    }
    return h;
}

}  // namespace

cublasHandle_t cublas_handle(int index) {
    return lazy_handle<cublasHandle_t>(index, [](cudaStream_t stream) {
        cublasHandle_t h = nullptr;
        GS_CUBLAS_CHECK(cublasCreate(&h));
        GS_CUBLAS_CHECK(cublasSetStream(h, stream));
        // Pinned until each GEMM sets it from allow_tf32(): no TF32 unless asked.
        GS_CUBLAS_CHECK(cublasSetMathMode(h, CUBLAS_DEFAULT_MATH));
        return h;
    });
}

cudnnHandle_t cudnn_handle(int index) {
    return lazy_handle<cudnnHandle_t>(index, [](cudaStream_t stream) {
        cudnnHandle_t h = nullptr;
        GS_CUDNN_CHECK(cudnnCreate(&h));
        GS_CUDNN_CHECK(cudnnSetStream(h, stream));
        return h;
    });
}

cusolverDnHandle_t cusolver_handle(int index) {
    return lazy_handle<cusolverDnHandle_t>(index, [](cudaStream_t stream) {
        cusolverDnHandle_t h = nullptr;
        GS_CUSOLVER_CHECK(cusolverDnCreate(&h));
        GS_CUSOLVER_CHECK(cusolverDnSetStream(h, stream));
        return h;
    });
}

}  // namespace gs::kernels::cuda
