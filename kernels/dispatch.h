#pragma once
// The device check every kernel entry point makes before it picks an implementation.
#include <initializer_list>

#include "tensor/tensor.h"

namespace gs::kernels {

// Throws naming `op` unless every tensor is defined and on the CPU. Kernels without a CUDA
// implementation call this instead of silently copying: there are no silent fallbacks.
inline void require_cpu(const char* op, std::initializer_list<const Tensor*> tensors) {
    for (const Tensor* t : tensors) {
        GS_CHECK(t->defined(), op, ": an input tensor is undefined");
        // TODO(#6): CUDA implementations.
        GS_CHECK(t->device().is_cpu(), op, ": no implementation for ", t->device().str(), " yet (CPU only)");
    }
}

}  // namespace gs::kernels
