#pragma once
// The device check every kernel entry point makes before it picks an implementation, in one place.
//
// An entry point with a CUDA implementation dispatches like this:
//
//     if (use_cuda("relu", {&x, &y})) GS_CUDA_CALL(cuda::relu_forward(x, y));
//     else cpu::relu_forward(x, y);
//
// GS_CUDA_CALL compiles its argument only in CUDA builds, where gs::kernels::cuda is defined; in a
// CPU-only build no CUDA tensor can exist (allocating one throws), so the branch is unreachable and
// says so if it is ever reached. An entry point without a CUDA implementation calls require_cpu.
#include <initializer_list>

#include "tensor/tensor.h"

#ifdef GRADSCOPE_WITH_CUDA
#define GS_CUDA_CALL(...) __VA_ARGS__
#else
#define GS_CUDA_CALL(...) GS_FAIL("internal error: a CUDA kernel was reached in a CPU-only build")
#endif

namespace gs::kernels {

// Throws naming `op` unless every tensor is defined and all are on one device (both devices are
// named). Returns true when that device is a CUDA device.
inline bool use_cuda(const char* op, std::initializer_list<const Tensor*> tensors) {
    check_same_device(op, tensors);
    return (*tensors.begin())->device().is_cuda();
}

// Throws naming `op` unless every tensor is defined and on the CPU. Kernels without a CUDA
// implementation call this instead of silently copying: there are no silent fallbacks.
inline void require_cpu(const char* op, std::initializer_list<const Tensor*> tensors) {
    for (const Tensor* t : tensors) {
        GS_CHECK(t->defined(), op, ": an input tensor is undefined");
        GS_CHECK(t->device().is_cpu(), op, ": no CUDA implementation yet; the tensor is on ", t->device().str(),
                 " (move it with .to(Device::cpu()))");
    }
}

}  // namespace gs::kernels
