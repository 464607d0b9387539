// Storage: owns one allocation from the device's allocator.
#include "tensor/storage.h"

#include "tensor/allocator.h"
#include "tensor/error.h"

namespace gs {

Storage::Storage(std::size_t bytes, Device device) : bytes_(bytes), device_(device) {
    // TODO(#6): the CUDA caching allocator.
    GS_CHECK(device.is_cpu(), "cannot allocate on ", device.str(),
             ": CUDA tensors are not implemented yet in this build (CPU only)");
    data_ = cpu_allocator::allocate(bytes);
}

Storage::~Storage() {
    if (device_.is_cpu()) cpu_allocator::deallocate(data_, bytes_);
}

}  // namespace gs
