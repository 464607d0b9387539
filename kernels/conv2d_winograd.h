#pragma once
// Winograd convolution on the CPU: the fast path of conv2d_cpu.cpp for unit-stride convolutions.
// 5x5 filters (alexnet_small's second layer) go through F(2x2, 5x5): each 2x2 block of outputs
// comes from a 6x6 block of inputs through 36 products per channel pair instead of 100. 3x3 filters
// (most of inception_small), and other sizes cut into 3x3 blocks, go through F(2x2, 3x3): 16
// products from a 4x4 block instead of 36. The products are gemms over channels, run through gemm's
// packed micro-kernels: forward, input and weight gradients. Internal to the CPU convolution.
#include <cstdint>

#include "kernels/conv2d.h"

namespace gs::kernels::cpu {

// The sizes of one convolution: x (N, C, H, W), w (K, C/G, R, S), y (N, K, OH, OW).
struct WinogradShape {
    std::int64_t N, C, H, W, K, OH, OW, G, R, S;
};

// Whether the Winograd path takes this convolution: unit stride and dilation, a filter that saves at
// least 1.5x of the products (3x3, 5x5, 3x5, ...; not 1x1, 2x2, 4x4 or 7x7), enough
// channels per group on both sides for the transforms to pay, and the path enabled.
bool winograd_applies(const WinogradShape& s, const Conv2dGeometry& g);
// The weight gradient of a filter cut into 3x3 blocks also needs a full block of tiles in the batch
// (128 2x2 output tiles): one 14x14 image alone, as per-example gradients ask, runs faster through
// im2col. A 5x5 filter (F(2x2, 5x5)) takes it at any batch size.
bool winograd_backward_weight_applies(const WinogradShape& s, const Conv2dGeometry& g);
// Whether a convolution that takes the Winograd path runs through F(2x2, 5x5) (a 5x5 filter)
// rather than F(2x2, 3x3), whole or in 3x3 blocks.
bool winograd_uses_f25(const WinogradShape& s);

// y = conv(x, w) + b (b may be null), contiguous arrays. Output blocks are split among threads by
// shape alone and every output sums its terms in a fixed order, so results do not depend on the
// thread count.
template <class T>
void winograd_forward(const WinogradShape& s, const Conv2dGeometry& g, const T* x, const T* w, const T* b, T* y);

// dw = the gradient of sum(dy * conv(x, w)) with respect to w (K, C/G, R, S), summed over the batch
// and the tiles: dU = sum over tiles of (A dY A^T) .* (B^T d B), then dw = G^T dU G. The tiles are
// cut into chunks by shape alone and the chunks' sums added in order, so dw does not depend on
// the thread count.
template <class T>
void winograd_backward_weight(const WinogradShape& s, const Conv2dGeometry& g, const T* x, const T* dy, T* dw);

}  // namespace gs::kernels::cpu
