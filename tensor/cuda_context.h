#pragma once
// The per-device state of the CUDA backend: which device is current and the one stream per device
// that every gradscope op on it is issued to. Included only by files compiled in the CUDA build.
//
// One stream per device (not the legacy default stream) keeps gradscope's work in one order without
// synchronizing with other libraries' work; the caching allocator relies on that order, since a
// block freed by an op may be handed to the next op on the same stream without waiting.
#include <cuda_runtime.h>

#include "tensor/device.h"

namespace gs {

// Throws gs::Error unless `device` is a CUDA device this process can use. The message says which
// of these it is: a CPU-only build, no CUDA driver or no GPU, a driver older than the runtime
// gradscope was built with, or an index beyond the devices present.
void require_cuda_device(Device device);

// The stream gradscope's ops on CUDA device `index` run on. Created on first use (non-blocking
// with respect to the legacy default stream) and kept for the life of the process.
cudaStream_t cuda_stream(int index);

// Blocks until all work issued to cuda_stream(index) has finished; reports an asynchronous kernel
// error (for example an out-of-bounds access) as gs::Error here.
void cuda_synchronize(int index);

// Makes `index` the calling thread's current CUDA device until the guard is destroyed, then
// restores the previous one. Kernel launches and cudaMalloc act on the current device.
class CudaDeviceGuard {
public:
    explicit CudaDeviceGuard(int index);
    ~CudaDeviceGuard();
    CudaDeviceGuard(const CudaDeviceGuard&) = delete;
    CudaDeviceGuard& operator=(const CudaDeviceGuard&) = delete;

private:
    int previous_ = 0;
    bool changed_ = false;
};

}  // namespace gs
