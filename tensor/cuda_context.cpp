// Device checks, the per-device streams and the device guard (CUDA build only).
#include "tensor/cuda_context.h"

#include <mutex>
#include <vector>

#include "tensor/cuda_check.h"

namespace gs {

namespace {

std::string version_str(int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); }

}  // namespace

void require_cuda_device(Device device) {
    GS_CHECK(device.is_cuda(), "require_cuda_device: ", device.str(), " is not a CUDA device");
    int driver = 0;
    if (cudaDriverGetVersion(&driver) != cudaSuccess || driver == 0) {
        (void)cudaGetLastError();
        GS_FAIL("cannot use ", device.str(), ": no CUDA driver is installed on this machine (use --device cpu)");
    }
    int runtime = 0;
    GS_CUDA_CHECK(cudaRuntimeGetVersion(&runtime));
    GS_CHECK(driver >= runtime, "cannot use ", device.str(), ": the CUDA driver supports CUDA ", version_str(driver),
             " but gradscope was built with CUDA ", version_str(runtime), "; update the driver or use --device cpu");
    const int count = cuda_device_count();
    GS_CHECK(count > 0, "cannot use ", device.str(), ": no GPU was found (use --device cpu)");
    GS_CHECK(device.index >= 0 && device.index < count, "cannot use ", device.str(), ": this machine has ", count,
             count == 1 ? " GPU (cuda:0)" : " GPUs (cuda:0 to cuda:" + std::to_string(count - 1) + ")");
}

cudaStream_t cuda_stream(int index) {
    static std::mutex mutex;
    static std::vector<cudaStream_t> streams;
    std::lock_guard<std::mutex> lock(mutex);
    if (index >= int(streams.size())) {
        require_cuda_device(Device::cuda(index));
        streams.resize(std::size_t(index) + 1, nullptr);
    }
    if (streams[std::size_t(index)] == nullptr) {
        CudaDeviceGuard guard(index);
        GS_CUDA_CHECK(cudaStreamCreateWithFlags(&streams[std::size_t(index)], cudaStreamNonBlocking));
    }
    return streams[std::size_t(index)];
}

void cuda_synchronize(int index) {
    CudaDeviceGuard guard(index);
    GS_CUDA_CHECK(cudaStreamSynchronize(cuda_stream(index)));
}

CudaDeviceGuard::CudaDeviceGuard(int index) {
    GS_CUDA_CHECK(cudaGetDevice(&previous_));
    if (previous_ != index) {
        GS_CUDA_CHECK(cudaSetDevice(index));
        changed_ = true;
    }
}

CudaDeviceGuard::~CudaDeviceGuard() {
    // A destructor must not throw; restoring the device can only fail if the context is gone.
    if (changed_) (void)cudaSetDevice(previous_);
}

}  // namespace gs
