#pragma once
// The CUDA halves of Tensor::copy_, fill_ and to(Device), defined in copy_cuda.cu (CUDA build
// only). Internal to tensor/: callers use the Tensor methods, which validate first.
#include "tensor/tensor.h"

namespace gs::detail {

// dst: a CUDA view whose elements do not share memory; src: on dst's device, of dst's shape
// (already expanded), not overlapping dst. Converts src's dtype to dst's; throws gs::Error naming
// the first value found outside dst's range (dst is then partly written, as on the CPU).
void cuda_copy(const Tensor& dst, const Tensor& src);
// Writes `value` (already checked to fit dst's dtype) into every element of the CUDA view dst.
void cuda_fill(const Tensor& dst, double value);
// Copies the bytes of contiguous src into contiguous dst (same shape and dtype, different devices,
// at least one of them CUDA). Host memory goes through pinned staging buffers. Returns when the
// copy has finished, so both tensors may be freed or reused at once.
void cuda_transfer(const Tensor& dst, const Tensor& src);

}  // namespace gs::detail
