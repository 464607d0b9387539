#pragma once
// The device-independent half of the CUDA caching allocator: size-binned free lists keyed by
// (device, stream, rounded size), statistics, and the out-of-memory policy (free the cache, retry
// once, then throw naming the size and the device). The raw allocation calls are a Backend, so the
// policy is plain C++ that the CPU-only test suite checks with a fake backend; cuda_allocator.cpp
// plugs in cudaMalloc/cudaFree (and cudaHostAlloc for pinned staging buffers).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "tensor/allocator.h"

namespace gs {

// The size class a device request is rounded up to: at least 512 bytes (cudaMalloc aligns to 256;
// a 512-byte floor keeps tiny tensors from multiplying the lists), multiples of 512 below 2 KiB,
// then four classes per power of two (waste at most 25%, like the CPU allocator). Pure.
std::size_t cuda_round_size(std::size_t bytes);

class BlockCache {
public:
    struct Backend {
        // Returns a fresh block of `bytes` on `device`, or nullptr when the device is out of memory.
        std::function<void*(int device, std::size_t bytes)> alloc;
        std::function<void(int device, void* ptr)> free;
        // Waits until no queued work on `device` can still use a cached block (before blocks are
        // given back: a block freed to the cache may still be read by a kernel in flight).
        std::function<void(int device)> synchronize;
    };

    // `what` names the memory in errors ("CUDA", "pinned host"); `device_name(d)` names device d.
    BlockCache(Backend backend, std::string what, std::function<std::string(int)> device_name);
    BlockCache(const BlockCache&) = delete;
    BlockCache& operator=(const BlockCache&) = delete;

    // A block of at least `bytes` (rounded by cuda_round_size) for work on `stream` of `device`:
    // a cached block of the same class, device and stream when there is one (reusable at once,
    // since work on one stream runs in order), else a fresh one. When the backend is out of memory,
    // every cached block of the device is given back and the allocation retried once; if that
    // fails too, throws gs::Error naming the size, the device and what is in use and cached.
    void* allocate(int device, std::uint64_t stream, std::size_t bytes);
    // Returns a block from allocate() to its free list. Throws for a pointer it did not hand out.
    void deallocate(void* ptr);
    // Gives every cached block of `device` (all devices when device < 0) back to the backend.
    void release_cached(int device = -1);
    // Statistics of one device.
    AllocatorStats stats(int device) const;

private:
    using Key = std::tuple<int, std::uint64_t, std::size_t>;  // device, stream, rounded size
    void release_locked(int device);
    AllocatorStats& stats_locked(int device);

    Backend backend_;
    std::string what_;
    std::function<std::string(int)> device_name_;
    mutable std::mutex mutex_;
    std::map<Key, std::vector<void*>> free_;
    std::unordered_map<void*, Key> in_use_;
    std::map<int, AllocatorStats> stats_;
};

}  // namespace gs
