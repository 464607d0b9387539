#pragma once
// 2-d convolution (cross-correlation, as in every framework) with stride, padding, dilation and
// groups. Layouts: x (N, C, H, W), w (K, C/groups, R, S), b (K), y (N, K, OH, OW), all contiguous.
#include <cstdint>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace gs::kernels {

// The geometry of a convolution: the one definition of output size and of which input pixel a
// filter tap reads, shared by the CPU loops, the cuDNN descriptors and the tests.
struct Conv2dGeometry {
    std::int64_t stride_h = 1, stride_w = 1;
    std::int64_t pad_h = 0, pad_w = 0;
    std::int64_t dil_h = 1, dil_w = 1;
    std::int64_t groups = 1;

    // Output size along H for input size H and filter size R: floor((H + 2p - d(R-1) - 1)/s) + 1.
    // Can be <= 0 for a filter larger than the padded input (validate_conv2d rejects that).
    GS_HOST_DEVICE std::int64_t out_h(std::int64_t H, std::int64_t R) const {
        return out_size(H, R, stride_h, pad_h, dil_h);
    }
    GS_HOST_DEVICE std::int64_t out_w(std::int64_t W, std::int64_t S) const {
        return out_size(W, S, stride_w, pad_w, dil_w);
    }
    // The input row read by output row oh through filter row r (may fall in the padding: < 0 or >= H).
    GS_HOST_DEVICE std::int64_t in_h(std::int64_t oh, std::int64_t r) const { return oh * stride_h - pad_h + r * dil_h; }
    GS_HOST_DEVICE std::int64_t in_w(std::int64_t ow, std::int64_t s) const { return ow * stride_w - pad_w + s * dil_w; }

    // "stride=(2, 2) padding=(1, 1) dilation=(1, 1) groups=1": for error messages.
    std::string str() const;

private:
    GS_HOST_DEVICE static std::int64_t out_size(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p,
                                                std::int64_t d) {
        const std::int64_t span = in + 2 * p - d * (k - 1) - 1;
        // Floor division that stays correct for a negative span (C++ truncates toward zero).
        return (span >= 0 ? span / s : -((-span + s - 1) / s)) + 1;
    }
};

// Checks that x (N, C, H, W), w (K, C/groups, R, S) and b (K, or undefined) fit together and with g:
// 4-d shapes, positive strides and dilations, non-negative padding, C and K divisible by groups,
// matching dtypes (f32/f64) and devices, and a positive output size. Throws gs::Error naming `op`,
// the shapes and the geometry. Returns the output shape (N, K, OH, OW).
Shape validate_conv2d(const char* op, const Shape& x_shape, const Shape& w_shape, const Conv2dGeometry& g);

// y (N, K, OH, OW) = conv(x, w) + b. b may be an undefined Tensor (no bias).
Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g);
// dx (x_shape) = the gradient of sum(dy * conv(x, w)) with respect to x. dy: (N, K, OH, OW).
Tensor conv2d_backward_input(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dGeometry& g);
// dw (w_shape) = the gradient of sum(dy * conv(x, w)) with respect to w, summed over the batch.
Tensor conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Shape& w_shape, const Conv2dGeometry& g);
// db (K) = sum of dy (N, K, OH, OW) over N, OH, OW.
Tensor conv2d_backward_bias(const Tensor& dy);

namespace cpu {
// Contiguous inputs, validated shapes; each assigns every element of its output.
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g, Tensor& y);
void conv2d_backward_input(const Tensor& dy, const Tensor& w, const Conv2dGeometry& g, Tensor& dx);
void conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Conv2dGeometry& g, Tensor& dw);
void conv2d_backward_bias(const Tensor& dy, Tensor& db);
// conv2d_backward_weight on raw contiguous arrays x (x_shape), dy (N, K, OH, OW) and dw (w_shape),
// for callers that own the output memory: per-example gradients run it on one image at a time,
// writing straight into their rows. Runs serially when called inside a parallel region.
template <class T>
void conv2d_backward_weight_raw(const Shape& x_shape, const Shape& w_shape, const Shape& y_shape,
                                const Conv2dGeometry& g, const T* x, const T* dy, T* dw);
// The im2col column matrix is built (and consumed by gemm) a chunk of rows at a time, sized so a
// chunk stays in L2. rows > 0 caps the chunk at that many rows instead; 0 restores the default.
// For tests, which need several chunks on small shapes. Not synchronized with running convolutions.
void set_conv2d_column_chunk(std::int64_t rows);
// Convolutions with unit stride and dilation, 3x3 or 5x5 filters (or 3x5, ..., cut into 3x3
// blocks) and at least 16 channels per group on each side run as Winograd F(2x2, 3x3) or
// F(2x2, 5x5) (conv2d_winograd.h; forward and both gradients) unless this is set to false; for
// tests and benchmarks, which compare it with im2col. Not synchronized with running convolutions.
void set_conv2d_winograd(bool enabled);
}  // namespace cpu

namespace cuda {
// The same contracts on one CUDA device with cuDNN (conv2d_cudnn.cpp): heuristic algorithms, FMA
// math unless allow_tf32(), deterministic algorithms when deterministic() (kernels/cuda_settings.h).
void conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g, Tensor& y);
void conv2d_backward_input(const Tensor& dy, const Tensor& w, const Conv2dGeometry& g, Tensor& dx);
void conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Conv2dGeometry& g, Tensor& dw);
void conv2d_backward_bias(const Tensor& dy, Tensor& db);
}  // namespace cuda

}  // namespace gs::kernels
