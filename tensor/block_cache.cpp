// BlockCache: the free lists and out-of-memory policy of the CUDA caching allocator.
#include "tensor/block_cache.h"

#include <algorithm>
#include <bit>

#include "tensor/cuda_allocator.h"
#include "tensor/error.h"
#include "tensor/random_draw.h"

namespace gs {

std::size_t cuda_round_size(std::size_t bytes) {
    constexpr std::size_t kMin = 512;
    if (bytes <= kMin) return kMin;
    GS_CHECK(bytes <= (std::size_t(1) << 62), "cuda_allocator: cannot allocate ", bytes, " bytes");
    const std::size_t p = std::bit_floor(bytes);
    if (p < 4 * kMin) return (bytes + kMin - 1) / kMin * kMin;
    const std::size_t quarter = p / 4;
    return (bytes + quarter - 1) / quarter * quarter;
}

BlockCache::BlockCache(Backend backend, std::string what, std::function<std::string(int)> device_name)
    : backend_(std::move(backend)), what_(std::move(what)), device_name_(std::move(device_name)) {}

AllocatorStats& BlockCache::stats_locked(int device) { return stats_[device]; }

void* BlockCache::allocate(int device, std::uint64_t stream, std::size_t bytes) {
    const std::size_t size = cuda_round_size(bytes);
    const Key key{device, stream, size};
    std::lock_guard lock(mutex_);
    AllocatorStats& st = stats_locked(device);
    auto it = free_.find(key);
    if (it != free_.end() && !it->second.empty()) {
        void* ptr = it->second.back();
        it->second.pop_back();
        in_use_.emplace(ptr, key);
        st.reused_allocations++;
        st.bytes_in_use += std::int64_t(size);
        st.peak_bytes_in_use = std::max(st.peak_bytes_in_use, st.bytes_in_use);
        st.bytes_cached -= std::int64_t(size);
        return ptr;
    }
    void* ptr = backend_.alloc(device, size);
    if (!ptr) {
        // Cached blocks of other sizes may add up to what is missing: give them back and retry.
        release_locked(device);
        ptr = backend_.alloc(device, size);
    }
    GS_CHECK(ptr != nullptr, what_, " allocator: out of memory allocating ", size, " bytes (", bytes,
             " requested) on ", device_name_(device), " with ", st.bytes_in_use,
             " bytes in use by tensors (the cache was emptied and the allocation retried)");
    in_use_.emplace(ptr, key);
    st.fresh_allocations++;
    st.bytes_in_use += std::int64_t(size);
    st.peak_bytes_in_use = std::max(st.peak_bytes_in_use, st.bytes_in_use);
    return ptr;
}

void BlockCache::deallocate(void* ptr) {
    if (!ptr) return;
    std::lock_guard lock(mutex_);
    auto it = in_use_.find(ptr);
    GS_CHECK(it != in_use_.end(), what_, " allocator: freeing a pointer it did not allocate");
    const Key key = it->second;
    in_use_.erase(it);
    free_[key].push_back(ptr);
    AllocatorStats& st = stats_locked(std::get<0>(key));
    st.bytes_in_use -= std::int64_t(std::get<2>(key));
    st.bytes_cached += std::int64_t(std::get<2>(key));
}

void BlockCache::release_cached(int device) {
    std::lock_guard lock(mutex_);
    release_locked(device);
}

void BlockCache::release_locked(int device) {
    std::map<int, bool> synced;
    for (auto& [key, list] : free_) {
        const int d = std::get<0>(key);
        if ((device >= 0 && d != device) || list.empty()) continue;
        if (!synced[d]) {
            backend_.synchronize(d);
            synced[d] = true;
        }
        for (void* ptr : list) backend_.free(d, ptr);
        stats_locked(d).bytes_cached -= std::int64_t(std::get<2>(key) * list.size());
        list.clear();
    }
}

AllocatorStats BlockCache::stats(int device) const {
    std::lock_guard lock(mutex_);
    auto it = stats_.find(device);
    return it == stats_.end() ? AllocatorStats{} : it->second;
}

#ifndef GRADSCOPE_WITH_CUDA
// CPU-only build: no CUDA memory exists, so there is nothing to count or free.
namespace cuda_allocator {
void* allocate(std::size_t bytes, int device) {
    GS_FAIL("cannot allocate ", bytes, " bytes on cuda:", device, ": gradscope was built without CUDA (use --device cpu)");
}
void deallocate(void*) {}
AllocatorStats stats(int) { return {}; }
void* allocate_pinned(std::size_t bytes) {
    GS_FAIL("cannot allocate ", bytes, " bytes of pinned memory: gradscope was built without CUDA");
}
void deallocate_pinned(void*) {}
AllocatorStats pinned_stats() { return {}; }
void empty_cache() {}
}  // namespace cuda_allocator
namespace detail {
// Unreachable: a CUDA tensor cannot be allocated in this build.
void cuda_random_fill(Tensor&, const UniformDraw&) { GS_FAIL("random fill on CUDA: gradscope was built without CUDA"); }
void cuda_random_fill(Tensor&, const NormalDraw&) { GS_FAIL("random fill on CUDA: gradscope was built without CUDA"); }
void cuda_random_fill(Tensor&, const BernoulliDraw&) { GS_FAIL("random fill on CUDA: gradscope was built without CUDA"); }
void cuda_random_fill(Tensor&, const RandintDraw&) { GS_FAIL("random fill on CUDA: gradscope was built without CUDA"); }
}  // namespace detail
#endif

}  // namespace gs
