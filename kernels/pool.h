#pragma once
// 2-d max and average pooling over (N, C, H, W) tensors, floor output size (no ceil mode).
#include <cstdint>
#include <string>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace gs::kernels {

// The geometry of a pooling window: the one definition of output size and window placement for
// the CPU loops, future CUDA kernels and the tests. Padding must be at most half the window, so
// every window holds at least one real input pixel.
struct Pool2dGeometry {
    std::int64_t kernel_h = 2, kernel_w = 2;
    std::int64_t stride_h = 2, stride_w = 2;
    std::int64_t pad_h = 0, pad_w = 0;

    // floor((H + 2p - k) / s) + 1; can be <= 0 when the window is larger than the padded input.
    GS_HOST_DEVICE std::int64_t out_h(std::int64_t H) const { return out_size(H, kernel_h, stride_h, pad_h); }
    GS_HOST_DEVICE std::int64_t out_w(std::int64_t W) const { return out_size(W, kernel_w, stride_w, pad_w); }
    // First input row/column of the window of output oh/ow (may be negative: in the padding).
    GS_HOST_DEVICE std::int64_t start_h(std::int64_t oh) const { return oh * stride_h - pad_h; }
    GS_HOST_DEVICE std::int64_t start_w(std::int64_t ow) const { return ow * stride_w - pad_w; }

    // The window of output (oh, ow) clipped to an H x W input: rows [h0, h1), cols [w0, w1).
    struct Window {
        std::int64_t h0, h1, w0, w1;
    };
    GS_HOST_DEVICE Window window(std::int64_t oh, std::int64_t ow, std::int64_t H, std::int64_t W) const {
        const std::int64_t hs = start_h(oh), ws = start_w(ow);
        return {hs > 0 ? hs : 0, hs + kernel_h < H ? hs + kernel_h : H, ws > 0 ? ws : 0, ws + kernel_w < W ? ws + kernel_w : W};
    }

    // The outputs whose window covers input row ih (column iw): [begin, end), possibly empty. The
    // adjoint of start_h/start_w: oh covers ih iff start_h(oh) <= ih < start_h(oh) + kernel_h.
    // Used by backward kernels that give each input pixel to one thread.
    GS_HOST_DEVICE void covering_h(std::int64_t ih, std::int64_t OH, std::int64_t& begin, std::int64_t& end) const {
        covering(ih, OH, kernel_h, stride_h, pad_h, begin, end);
    }
    GS_HOST_DEVICE void covering_w(std::int64_t iw, std::int64_t OW, std::int64_t& begin, std::int64_t& end) const {
        covering(iw, OW, kernel_w, stride_w, pad_w, begin, end);
    }

    // "kernel=(2, 2) stride=(2, 2) padding=(0, 0)": for error messages.
    std::string str() const;

private:
    // o*s - p <= i  and  o*s - p + k - 1 >= i, i.e. ceil((i + p - k + 1) / s) <= o <= floor((i + p) / s).
    GS_HOST_DEVICE static void covering(std::int64_t i, std::int64_t out, std::int64_t k, std::int64_t s, std::int64_t p,
                                        std::int64_t& begin, std::int64_t& end) {
        const std::int64_t lo = i + p - k + 1;  // may be negative; i + p is not (p >= 0)
        begin = lo <= 0 ? 0 : (lo + s - 1) / s;
        end = (i + p) / s + 1;
        if (end > out) end = out;
        if (begin > end) begin = end;
    }
    GS_HOST_DEVICE static std::int64_t out_size(std::int64_t in, std::int64_t k, std::int64_t s, std::int64_t p) {
        const std::int64_t span = in + 2 * p - k;
        return (span >= 0 ? span / s : -((-span + s - 1) / s)) + 1;
    }
};

// One step of a max-pooling scan: takes v (at flat index i) when it is larger than the best so
// far or NaN, and keeps a NaN once found, so NaN in a window propagates to the output. Ties keep
// the first index in scan order (row-major within the window).
struct MaxPoolStep {
    template <class T>
    GS_HOST_DEVICE void operator()(T v, std::int64_t i, T& best, std::int64_t& best_i) const {
        // Branch-free selects: on real data "v > best" is a coin flip the branch predictor loses.
        const bool take = (best == best) & ((v > best) | (v != v));
        best = take ? v : best;
        best_i = take ? i : best_i;
    }
};

// MaxPoolStep for a window known to hold no NaN: strict ">" keeps the first of equal values.
// `seen_nan` records a NaN so the caller can rescan that window with MaxPoolStep; the plain
// compare-and-select keeps no flag in the dependency chain and compiles to max/cmov.
struct MaxPoolStepNoNan {
    template <class T>
    GS_HOST_DEVICE void operator()(T v, std::int64_t i, T& best, std::int64_t& best_i, bool& seen_nan) const {
        const bool take = v > best;
        best = take ? v : best;
        best_i = take ? i : best_i;
        seen_nan |= v != v;
    }
};

// The divisor of an average-pooling window: the whole window size when padding counts, else the
// number of real input pixels it covers (rows [h0, h1) x cols [w0, w1) after clipping).
struct AvgPoolDivisor {
    GS_HOST_DEVICE std::int64_t operator()(const Pool2dGeometry& g, bool count_include_pad, std::int64_t h0,
                                           std::int64_t h1, std::int64_t w0, std::int64_t w1) const {
        return count_include_pad ? g.kernel_h * g.kernel_w : (h1 - h0) * (w1 - w0);
    }
};

// Checks x_shape is 4-d and g is valid for it (positive kernel and stride, 0 <= pad <= kernel/2,
// positive output size); throws gs::Error naming `op`, the shape and the geometry. Returns the
// output shape (N, C, OH, OW).
Shape validate_pool2d(const char* op, const Shape& x_shape, const Pool2dGeometry& g);

struct MaxPool2dResult {
    Tensor y;        // (N, C, OH, OW)
    Tensor indices;  // (N, C, OH, OW) i64: flat index ih*W + iw of the chosen pixel in its input plane
};

// y = the max over each window of x (N, C, H, W), f32/f64. Padding never wins (it acts as -inf).
MaxPool2dResult max_pool2d_forward(const Tensor& x, const Pool2dGeometry& g);
// dx (x_shape): each dy element added to the input pixel its window chose (overlapping windows
// that chose the same pixel add up). The indices are checked to lie in their input plane, so a
// bad one is an error naming it, never a write outside the plane; for CUDA indices the check
// copies them to the host and waits for the device.
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape);
// The same for the indices that max_pool2d_forward(x, g) returned (autograd's case): in range by
// construction, so not checked, and on CUDA gathered by one thread per input pixel from the
// windows of g that cover it. On a GPU the check's copy (12.8 MB for alexnet_small's first pool
// at batch 128) and the wait it forces cost more than the layer itself.
Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape, const Pool2dGeometry& g);
// y = the mean of each window of x (N, C, H, W); see AvgPoolDivisor for the divisor.
Tensor avg_pool2d_forward(const Tensor& x, const Pool2dGeometry& g, bool count_include_pad);
// dx (x_shape): each dy element spread evenly (divided by the same divisor) over its window.
Tensor avg_pool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dGeometry& g, bool count_include_pad);

namespace cpu {
// Contiguous, validated inputs; each assigns every element of its outputs.
void max_pool2d_forward(const Tensor& x, const Pool2dGeometry& g, Tensor& y, Tensor& indices);
void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx);
void avg_pool2d_forward(const Tensor& x, const Pool2dGeometry& g, bool count_include_pad, Tensor& y);
void avg_pool2d_backward(const Tensor& dy, const Pool2dGeometry& g, bool count_include_pad, Tensor& dx);
}  // namespace cpu
namespace cuda {
// The same on CUDA tensors (pool_cuda.cu), adding in the CPU's order: forwards one thread per
// output; max backward from indices alone one thread per (n, c) plane (the indices say nothing
// about which outputs reach a pixel); avg backward one thread per input pixel over its covering
// windows.
void max_pool2d_forward(const Tensor& x, const Pool2dGeometry& g, Tensor& y, Tensor& indices);
void max_pool2d_backward(const Tensor& dy, const Tensor& indices, Tensor& dx);
// One thread per input pixel over the windows of g covering it, adding in output order as the
// CPU does; for indices that max_pool2d_forward(x, g) returned.
void max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Pool2dGeometry& g, Tensor& dx);
void avg_pool2d_forward(const Tensor& x, const Pool2dGeometry& g, bool count_include_pad, Tensor& y);
void avg_pool2d_backward(const Tensor& dy, const Pool2dGeometry& g, bool count_include_pad, Tensor& dx);
}  // namespace cuda

}  // namespace gs::kernels
