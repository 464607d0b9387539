#pragma once
// Per-thread scratch memory for kernels (GEMM packing, im2col columns). A buffer grows to the
// largest size asked of it and is then reused, so a training step after warm-up faults in no
// fresh pages (see design.md, "Allocators"); blocks come from the pooled cpu_allocator.
#include <cstddef>

#include "tensor/allocator.h"

namespace gs::kernels::cpu {

class ScratchBuffer {
public:
    ScratchBuffer() = default;
    ScratchBuffer(const ScratchBuffer&) = delete;
    ScratchBuffer& operator=(const ScratchBuffer&) = delete;
    ~ScratchBuffer() {
        if (ptr_) cpu_allocator::deallocate(ptr_, bytes_);
    }
    // At least `count` elements of T, 64-byte aligned. Contents are unspecified (the previous
    // user's data); the pointer stays valid until the next call to get() on this buffer.
    template <class T>
    T* get(std::size_t count) {
        const std::size_t want = count * sizeof(T);
        if (want > bytes_) {
            if (ptr_) cpu_allocator::deallocate(ptr_, bytes_);
            ptr_ = nullptr;
            bytes_ = 0;
            ptr_ = cpu_allocator::allocate(want);
            bytes_ = want;
        }
        return static_cast<T*>(ptr_);
    }

private:
    void* ptr_ = nullptr;
    std::size_t bytes_ = 0;
};

// The calling thread's scratch buffer number `slot`. Different slots never alias, so a kernel
// can hold several at once (e.g. slot 0 for im2col columns while gemm packs into its own slots).
// `staging`: a kernel's copy of an operand regrouped for gemm (e.g. conv's outputs of several images).
// `weights` / `packed_weights`: a kernel's rearranged or gemm-packed copy of its weights, made once
// per call by the calling thread and read by the whole team.
// `gemm_c`: gemm's transposed result of a product with fewer columns than its register tile.
enum class ScratchSlot { gemm_a, gemm_b, gemm_c, columns, partials, staging, weights, packed_weights, count };
ScratchBuffer& thread_scratch(ScratchSlot slot);

}  // namespace gs::kernels::cpu
