// The CUDA caching allocator: BlockCache over cudaMalloc/cudaFree, and one over cudaHostAlloc for
// pinned staging buffers (CUDA build only).
#include "tensor/cuda_allocator.h"

#include <cuda_runtime.h>

#include "tensor/block_cache.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace gs::cuda_allocator {
namespace {

BlockCache& device_cache() {
    // Leaked on purpose: tensors in static objects may be freed after a static cache would be.
    static BlockCache* cache = new BlockCache(
        BlockCache::Backend{
            [](int device, std::size_t bytes) -> void* {
                CudaDeviceGuard guard(device);
                void* ptr = nullptr;
                const cudaError_t status = cudaMalloc(&ptr, bytes);
                if (status == cudaErrorMemoryAllocation) {
                    (void)cudaGetLastError();  // not sticky: clear it so later checks do not report it
                    return nullptr;
                }
                GS_CUDA_CHECK(status);
                return ptr;
            },
            [](int device, void* ptr) {
                CudaDeviceGuard guard(device);
                GS_CUDA_CHECK(cudaFree(ptr));
            },
            [](int device) { cuda_synchronize(device); }},
        "CUDA", [](int device) { return Device::cuda(device).str(); });
    return *cache;
}

BlockCache& pinned_cache() {
    static BlockCache* cache = new BlockCache(
        BlockCache::Backend{
            [](int, std::size_t bytes) -> void* {
                void* ptr = nullptr;
                const cudaError_t status = cudaHostAlloc(&ptr, bytes, cudaHostAllocDefault);
                if (status == cudaErrorMemoryAllocation) {
                    (void)cudaGetLastError();
                    return nullptr;
                }
                GS_CUDA_CHECK(status);
                return ptr;
            },
            [](int, void* ptr) { GS_CUDA_CHECK(cudaFreeHost(ptr)); },
            // Staging buffers are returned only after the copy through them has finished.
            [](int) {}},
        "pinned host", [](int) { return std::string("the host (pinned memory)"); });
    return *cache;
}

}  // namespace

void* allocate(std::size_t bytes, int device) {
    GS_CHECK(device >= 0, "cannot allocate on cuda:", device, ": invalid device index");
    // The first use of a device's stream checks the device (driver, GPU present, index in range);
    // later calls are a lookup, which keeps allocation off the CUDA API.
    cudaStream_t stream = cuda_stream(device);
    void* ptr = device_cache().allocate(device, reinterpret_cast<std::uint64_t>(stream), bytes);
    if (cpu_allocator::poison()) {
        CudaDeviceGuard guard(device);
        GS_CUDA_CHECK(cudaMemsetAsync(ptr, 0xFF, cuda_round_size(bytes), stream));
    }
    return ptr;
}

void deallocate(void* ptr) { device_cache().deallocate(ptr); }

AllocatorStats stats(int device) { return device_cache().stats(device); }

void* allocate_pinned(std::size_t bytes) { return pinned_cache().allocate(0, 0, bytes); }
void deallocate_pinned(void* ptr) { pinned_cache().deallocate(ptr); }
AllocatorStats pinned_stats() { return pinned_cache().stats(0); }

void empty_cache() {
    device_cache().release_cached(-1);
    pinned_cache().release_cached(-1);
}

}  // namespace gs::cuda_allocator
