#pragma once
// The caching allocator for CUDA device memory (never cudaMallocManaged) and for the pinned host
// buffers that stage host<->device copies. Freed blocks go to size-binned free lists per device
// and stream (see tensor/block_cache.h) and are handed out again, because cudaMalloc/cudaFree
// synchronize the device and cost far more than a kernel launch.
//
// Stream rule: a block is allocated for the device's gradscope stream (cuda_stream(device)) and
// may be handed to the next op on that stream as soon as it is freed, since the stream runs its
// work in order. Work issued to any other stream must not use a tensor that may be freed meanwhile.
//
// This header has no CUDA includes; in a CPU-only build allocate() throws, stats are zero and
// empty_cache() does nothing.
#include <cstddef>

#include "tensor/allocator.h"

namespace gs::cuda_allocator {

// A block of at least `bytes` on CUDA device `device` (a valid pointer for 0 bytes too). When the
// allocator's poisoning is on (cpu_allocator::set_poison), the block is filled with 0xFF bytes on
// the device's stream. Throws gs::Error naming the size and the device when the device is out of
// memory even after the cache was emptied.
void* allocate(std::size_t bytes, int device);
// Returns a block from allocate(). It is reused by later allocations on the same stream.
void deallocate(void* ptr);
// Statistics of device memory on `device`.
AllocatorStats stats(int device);

// A page-locked host block of at least `bytes` for staging copies (cudaHostAlloc), and its return.
void* allocate_pinned(std::size_t bytes);
void deallocate_pinned(void* ptr);
AllocatorStats pinned_stats();

// Waits for every device's stream, then gives all cached device and pinned blocks back to CUDA.
void empty_cache();

}  // namespace gs::cuda_allocator
