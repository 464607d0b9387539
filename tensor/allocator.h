#pragma once
// The pooled CPU allocator. On these machines a freshly faulted page costs ~100x more to write
// than a reused one, so freed blocks go to size-binned free lists and are handed out again; a
// training step after warm-up should find every block it asks for in a list.
#include <cstddef>
#include <cstdint>

namespace gs {

struct AllocatorStats {
    std::int64_t fresh_allocations = 0;  // blocks taken from the system (page faults follow)
    std::int64_t reused_allocations = 0; // blocks served from a free list
    std::int64_t bytes_in_use = 0;       // rounded sizes of the blocks handed out now
    std::int64_t bytes_cached = 0;       // rounded sizes of the blocks waiting in free lists
    std::int64_t peak_bytes_in_use = 0;  // the most bytes_in_use has been (what the work needed at once)
};

namespace cpu_allocator {

// Returns a 64-byte-aligned block of at least `bytes` bytes (a valid pointer even for 0 bytes).
// Thread-safe. Throws gs::Error when the system is out of memory.
void* allocate(std::size_t bytes);
// Returns a block from allocate(); `bytes` must be the size that was asked for (the block may be
// larger: a request can be served from a cached block of a larger class).
void deallocate(void* ptr, std::size_t bytes);
// The size class a request is rounded up to (a power of two or 1.25/1.5/1.75 times one).
std::size_t round_size(std::size_t bytes);
AllocatorStats stats();
// When on, every block handed out is first filled with 0xFF bytes (NaN as f32/f64, -1 as i64, 255
// as u8), so a kernel that leaves an output element unassigned shows up as a wrong value. The test
// suite turns it on for every test; it costs a memset per allocation.
void set_poison(bool on);
// Whether poisoning is on (the CUDA allocator poisons its blocks too when it is).
bool poison();
// Gives every cached block back to the system.
void empty_cache();

}  // namespace cpu_allocator
}  // namespace gs
