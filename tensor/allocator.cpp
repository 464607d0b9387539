// Size-binned caching allocator for host memory: freed blocks wait in free lists by size class and
// are handed out again, to a request of their own class or of a class up to kReuseFactor smaller.
#include "tensor/allocator.h"

#include <algorithm>
#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "tensor/error.h"

namespace gs::cpu_allocator {
namespace {

constexpr std::size_t kAlignment = 64;

// A request may take a cached block up to this many times its rounded size when its own class has
// none: work whose tensors shrink as it goes (inference through a CNN) then reuses the large blocks
// of its first layers instead of faulting in fresh pages for every new size, so the process holds
// about what the work needs at once rather than that much per size class. At most half of such a
// block goes unused.
constexpr std::size_t kReuseFactor = 2;

struct Pool {
    std::mutex mutex;
    std::map<std::size_t, std::vector<void*>> free_lists;  // keyed by rounded size, ordered for lower_bound
    std::unordered_map<void*, std::size_t> in_use;          // block -> its size class
    AllocatorStats stats;
};

std::atomic<bool> g_poison{false};

void* handed_out(void* ptr, std::size_t size) {
    if (g_poison.load(std::memory_order_relaxed)) std::memset(ptr, 0xFF, size);
    return ptr;
}

Pool& pool() {
    // Leaked on purpose: tensors held in static objects may be freed after a static pool would be.
    static Pool* p = new Pool;
    return *p;
}

}  // namespace

std::size_t round_size(std::size_t bytes) {
    if (bytes <= kAlignment) return kAlignment;
    // Rounding up must not wrap; no system can hand out this much anyway.
    GS_CHECK(bytes <= (std::size_t(1) << 62), "cpu_allocator: cannot allocate ", bytes, " bytes");
    // Four classes per power of two bound the waste at 25% while keeping lists few.
    const std::size_t p = std::bit_floor(bytes);
    if (p < 4 * kAlignment) return (bytes + kAlignment - 1) / kAlignment * kAlignment;
    const std::size_t quarter = p / 4;
    return (bytes + quarter - 1) / quarter * quarter;
}

void* allocate(std::size_t bytes) {
    const std::size_t size = round_size(bytes);
    Pool& p = pool();
    void* ptr = nullptr;
    std::size_t block = 0;
    {
        std::lock_guard lock(p.mutex);
        // The smallest cached block of this class or a larger one within kReuseFactor.
        for (auto it = p.free_lists.lower_bound(size); it != p.free_lists.end() && it->first <= kReuseFactor * size; ++it) {
            if (it->second.empty()) continue;
            ptr = it->second.back();
            it->second.pop_back();
            block = it->first;
            p.in_use.emplace(ptr, block);
            p.stats.reused_allocations++;
            p.stats.bytes_in_use += std::int64_t(block);
            p.stats.bytes_cached -= std::int64_t(block);
            p.stats.peak_bytes_in_use = std::max(p.stats.peak_bytes_in_use, p.stats.bytes_in_use);
            break;
        }
    }
    if (ptr) return handed_out(ptr, block);
    ptr = std::aligned_alloc(kAlignment, size);
    if (!ptr) {
        empty_cache();
        ptr = std::aligned_alloc(kAlignment, size);
    }
    GS_CHECK(ptr != nullptr, "cpu_allocator: out of memory allocating ", size, " bytes");
    {
        std::lock_guard lock(p.mutex);
        p.in_use.emplace(ptr, size);
        p.stats.fresh_allocations++;
        p.stats.bytes_in_use += std::int64_t(size);
        p.stats.peak_bytes_in_use = std::max(p.stats.peak_bytes_in_use, p.stats.bytes_in_use);
    }
    return handed_out(ptr, size);
}

void deallocate(void* ptr, std::size_t bytes) {
    if (!ptr) return;
    Pool& p = pool();
    std::lock_guard lock(p.mutex);
    const auto it = p.in_use.find(ptr);
    GS_CHECK(it != p.in_use.end() && it->second >= round_size(bytes),
             "cpu_allocator: deallocate of a block it did not hand out (or with a larger size than asked for)");
    const std::size_t block = it->second;
    p.in_use.erase(it);
    p.free_lists[block].push_back(ptr);
    p.stats.bytes_in_use -= std::int64_t(block);
    p.stats.bytes_cached += std::int64_t(block);
}

void set_poison(bool on) { g_poison.store(on); }
bool poison() { return g_poison.load(std::memory_order_relaxed); }

AllocatorStats stats() {
    Pool& p = pool();
    std::lock_guard lock(p.mutex);
    return p.stats;
}

void empty_cache() {
    Pool& p = pool();
    std::lock_guard lock(p.mutex);
    for (auto& [size, list] : p.free_lists) {
        for (void* ptr : list) std::free(ptr);
        p.stats.bytes_cached -= std::int64_t(size * list.size());
        list.clear();
    }
}

}  // namespace gs::cpu_allocator
