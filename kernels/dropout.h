#pragma once
// Inverted dropout: y = x * mask / (1 - p), mask_i ~ Bernoulli(1 - p), so E[y] = x and eval mode is
// the identity. Element i's keep decision uses the Philox block at counter (gen.offset + i) and
// keeps when its 53-bit uniform is < 1 - p: the same draw as gs::bernoulli(shape, gen, 1 - p), so
// the mask depends only on (seed, stream, offset), never on threads or devices. The call advances
// gen.offset by numel, like every other random fill.
#include <cstdint>

#include "kernels/host_device.h"
#include "tensor/philox.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace gs::kernels {

// The keep decision (1 keep, 0 drop) for element i of a mask drawn at (seed, stream, offset).
struct DropoutKeep {
    std::uint64_t seed, stream, offset;
    double keep_prob;
    GS_HOST_DEVICE std::uint8_t operator()(std::int64_t i) const {
        const auto b = Philox4x32::generate(seed, stream, offset + std::uint64_t(i));
        return Philox4x32::to_double(b[0], b[1]) < keep_prob ? 1 : 0;
    }
};

// y = x * (mask ? scale : 0) with scale = 1/(1-p); a multiplication, so a NaN input stays NaN
// even where it is dropped (as in x * mask / (1 - p)). Also the backward: dx = dy * (mask ? scale : 0).
struct DropoutApply {
    template <class T>
    GS_HOST_DEVICE T operator()(T x, std::uint8_t mask, T scale) const { return x * (mask ? scale : T(0)); }
};

struct DropoutResult {
    Tensor y;     // x's shape and dtype
    Tensor mask;  // x's shape, u8 (1 = kept); undefined when p == 0
};

// x: any shape, f32/f64; p in [0, 1). p == 0 returns a copy of x with an undefined mask and does
// not advance the generator. Otherwise draws the mask from `gen` (advancing gen.offset by numel).
DropoutResult dropout_forward(const Tensor& x, double p, Generator& gen);
// dy: the gradient of y; mask and p as used by dropout_forward (mask undefined iff p == 0).
// Returns dx = dy * mask / (1 - p).
Tensor dropout_backward(const Tensor& dy, const Tensor& mask, double p);

namespace cpu {
// Contiguous operands, pre-allocated outputs, assigned.
void dropout_mask(const DropoutKeep& keep, Tensor& mask);
void dropout_apply(const Tensor& x, const Tensor& mask, double p, Tensor& y);
}  // namespace cpu
namespace cuda {
// The same on CUDA tensors (dropout_cuda.cu): the same mask bits as the CPU for the same generator.
void dropout_mask(const DropoutKeep& keep, Tensor& mask);
void dropout_apply(const Tensor& x, const Tensor& mask, double p, Tensor& y);
}  // namespace cuda

}  // namespace gs::kernels
