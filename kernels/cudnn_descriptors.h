#pragma once
// The numbers that go into cuDNN descriptors (dims, strides, convolution parameters), computed by
// plain functions with no cuDNN types so that they compile in every build and are tested on the
// CPU; the *_cudnn.cpp files only copy them into descriptors. cuDNN's legacy API takes int, so
// every function here checks that the values fit and throws gs::Error naming `op` otherwise.
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "kernels/conv2d.h"
#include "tensor/shape.h"

namespace gs::kernels::cudnn_desc {

// A 4-d tensor descriptor: dims (N, C, H, W) and element strides.
struct Dims4 {
    std::array<int, 4> dims;
    std::array<int, 4> strides;
    bool operator==(const Dims4&) const = default;
};

// A contiguous 4-d tensor of `shape` (N, C, H, W): packed row-major strides (C*H*W, H*W, W, 1).
// Throws unless shape is 4-d and it, its strides and its element count fit in an int.
Dims4 packed_nchw(const Shape& shape, const char* op);

// Batch norm's view of a contiguous x (N, C, ...): (N, C, S, 1) with S the product of the trailing
// dims (1 for a 2-d x), so cuDNN's spatial mode (statistics over N, H, W) sums exactly over the
// N*S values of each channel.
Dims4 batch_norm_view(const Shape& x_shape, const char* op);

// A per-channel tensor (C) as cuDNN's broadcast shape (1, C, 1, 1).
Dims4 channel_view(std::int64_t C, const char* op);

// A flat run of n elements as (1, 1, 1, n) for elementwise calls (activations).
Dims4 flat_view(std::int64_t n, const char* op);

// [begin, end) element ranges of at most max_chunk elements covering [0, n), for calls on tensors
// longer than an int can describe. Empty for n == 0.
std::vector<std::pair<std::int64_t, std::int64_t>> chunks(std::int64_t n, std::int64_t max_chunk);

// The convolution descriptor of a Conv2dGeometry (cudnnSetConvolution2dDescriptor +
// cudnnSetConvolutionGroupCount), in cuDNN's order (h, w).
struct ConvParams {
    int pad_h, pad_w, stride_h, stride_w, dil_h, dil_w, groups;
    bool operator==(const ConvParams&) const = default;
};
ConvParams conv_params(const Conv2dGeometry& g, const char* op);

// The output dims cuDNN computes for input x (N, C, H, W), filter w (K, C/groups, R, S) and p, by
// cuDNN's documented formula 1 + (in + 2*pad - ((filter - 1)*dilation + 1)) / stride, i.e.
// (N, K, OH, OW). conv2d_cudnn.cpp checks that this, what cuDNN reports, and Conv2dGeometry's
// out_h/out_w agree; the CPU tests check the formula against Conv2dGeometry for valid geometries.
std::array<int, 4> conv_output_dims(const Dims4& x, const Dims4& w, const ConvParams& p);

}  // namespace gs::kernels::cudnn_desc
