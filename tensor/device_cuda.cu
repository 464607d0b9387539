// CUDA device queries, compiled only when the CUDA backend is built.
#include <cuda_runtime.h>

#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"
#include "tensor/device.h"

namespace gs {

bool cuda_built() { return true; }

int cuda_device_count() {
    int n = 0;
    // No driver or no device is a normal answer here, not an error: report zero devices.
    if (cudaGetDeviceCount(&n) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return n;
}

bool cuda_available() { return cuda_device_count() > 0; }

std::int64_t cuda_free_memory(int index) {
    CudaDeviceGuard guard(index);
    std::size_t free = 0, total = 0;
    GS_CUDA_CHECK(cudaMemGetInfo(&free, &total));
    return std::int64_t(free);
}

}  // namespace gs
