// CUDA device queries, compiled only when the CUDA backend is built.
#include <cuda_runtime.h>

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

}  // namespace gs
