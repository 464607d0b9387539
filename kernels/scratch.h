#pragma once
// Per-thread scratch memory for kernels (GEMM packing, im2col columns). A buffer grows to the
// largest size asked of it and is then reused, so a training step after warm-up faults in no
// fresh pages (see design.md, "Allocators"); blocks come from the pooled cpu_allocator.
#include <cstddef>

#include "tensor/allocator.h"

namespace gs::kernels::cpu {

// An array of T from the pooled allocator, for the length of one kernel call; its contents are
// unspecified (never zeroed). Large per-call buffers (a per-example kernel's chunk of patches or
// gradient rows, hundreds of MB) taken as std::vector were fresh pages from the system on every
// call, and the first write to a fresh page costs ~100x a reused one here.
template <class T>
class PooledArray {
public:
    PooledArray() = default;
    explicit PooledArray(std::size_t n) { resize(n); }
    PooledArray(const PooledArray&) = delete;
    PooledArray& operator=(const PooledArray&) = delete;
    ~PooledArray() { release(); }
    // Growing takes a new block (the old contents are not kept); shrinking keeps the block.
    void resize(std::size_t n) {
        if (n > capacity_) {
            release();
            ptr_ = static_cast<T*>(cpu_allocator::allocate(n * sizeof(T)));
            capacity_ = n;
        }
        size_ = n;
    }
    T* data() { return ptr_; }
    const T* data() const { return ptr_; }
    std::size_t size() const { return size_; }
    T& operator[](std::size_t i) { return ptr_[i]; }
    const T& operator[](std::size_t i) const { return ptr_[i]; }
    T* begin() { return ptr_; }
    T* end() { return ptr_ + size_; }
    const T* begin() const { return ptr_; }
    const T* end() const { return ptr_ + size_; }

private:
    void release() {
        if (ptr_) cpu_allocator::deallocate(ptr_, capacity_ * sizeof(T));
        ptr_ = nullptr;
        capacity_ = size_ = 0;
    }
    T* ptr_ = nullptr;
    std::size_t size_ = 0, capacity_ = 0;
};

class ScratchBuffer {
public:
    // At least `count` elements of T, 64-byte aligned. Contents are unspecified (the previous
    // user's data); the pointer stays valid until the next call to get() on this buffer.
    template <class T>
    T* get(std::size_t count) {
        if (count * sizeof(T) > bytes_.size()) bytes_.resize(count * sizeof(T));
        return reinterpret_cast<T*>(bytes_.data());
    }

private:
    PooledArray<std::byte> bytes_;  // never shrunk, so its size is the most ever asked for
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
