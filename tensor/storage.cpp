// Storage: owns one allocation from the device's allocator.
#include "tensor/storage.h"

#include "tensor/allocator.h"
#include "tensor/cuda_allocator.h"
#include "tensor/error.h"

namespace gs {

Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
    // cuda_allocator::allocate checks the device (and throws in a CPU-only build).
    data_ = device.is_cpu() ? cpu_allocator::allocate(bytes) : cuda_allocator::allocate(bytes, device.index);
}

Storage::~Storage() {
    if (device_.is_cpu()) cpu_allocator::deallocate(data_, bytes_);
    else cuda_allocator::deallocate(data_);
}

}  // namespace gs
