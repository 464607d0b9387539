#pragma once
// A block of memory on one device, shared by every tensor that views it.
#include <cstddef>
#include <memory>

#include "tensor/device.h"

namespace gs {

class Storage {
public:
    // Allocates `bytes` on `device` (from the pooled allocator). Contents are uninitialized.
    Storage(std::size_t bytes, Device device);
    ~Storage();
    Storage(const Storage&) = delete;
    Storage& operator=(const Storage&) = delete;

    void* data() const { return data_; }
    std::size_t bytes() const { return bytes_; }
    Device device() const { return device_; }

private:
    void* data_ = nullptr;
    std::size_t bytes_ = 0;
    Device device_;
};

}  // namespace gs
