// Size-binned caching allocator for host memory.
#include "tensor/allocator.h"

#include <atomic>
#include <bit>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "tensor/error.h"

namespace gs::cpu_allocator {
namespace {

constexpr std::size_t kAlignment = 64;

struct Pool {
    std::mutex mutex;
    std::unordered_map<std::size_t, std::vector<void*>> free_lists;  // keyed by rounded size
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
    {
        std::lock_guard lock(p.mutex);
        auto it = p.free_lists.find(size);
        if (it != p.free_lists.end() && !it->second.empty()) {
            ptr = it->second.back();
            it->second.pop_back();
            p.stats.reused_allocations++;
            p.stats.bytes_in_use += std::int64_t(size);
            p.stats.bytes_cached -= std::int64_t(size);
        }
    }
    if (!ptr) {
        ptr = std::aligned_alloc(kAlignment, size);
        if (!ptr) {
            empty_cache();
            ptr = std::aligned_alloc(kAlignment, size);
        }
        GS_CHECK(ptr != nullptr, "cpu_allocator: out of memory allocating ", size, " bytes");
        std::lock_guard lock(p.mutex);
        p.stats.fresh_allocations++;
        p.stats.bytes_in_use += std::int64_t(size);
    }
    return handed_out(ptr, size);
}

void deallocate(void* ptr, std::size_t bytes) {
    if (!ptr) return;
    const std::size_t size = round_size(bytes);
    Pool& p = pool();
    std::lock_guard lock(p.mutex);
    p.free_lists[size].push_back(ptr);
    p.stats.bytes_in_use -= std::int64_t(size);
    p.stats.bytes_cached += std::int64_t(size);
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
