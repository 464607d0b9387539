// Pooling entry points: validation, allocation and device dispatch.
#include <sstream>

#include "kernels/dispatch.h"
#include "kernels/pool.h"

namespace gs::kernels {

std::string Pool2dGeometry::str() const {
    std::ostringstream os;
    os << "kernel=(" << kernel_h << ", " << kernel_w << ") stride=(" << stride_h << ", " << stride_w
       << ") padding=(" << pad_h << ", " << pad_w << ")";
    return os.str();
}

Shape validate_pool2d(const char* op, const Shape& xs, const Pool2dGeometry& g) {
    GS_CHECK(xs.size() == 4, op, ": input must be 4-d (N, C, H, W), got ", shape_str(xs));
    // An empty plane would leave windows made only of padding, with no element to take.
    GS_CHECK(xs[2] > 0 && xs[3] > 0, op, ": input planes must not be empty, got ", shape_str(xs));
    GS_CHECK(g.kernel_h > 0 && g.kernel_w > 0 && g.stride_h > 0 && g.stride_w > 0, op, ": invalid geometry ",
             g.str(), " (kernel and stride must be positive)");
    GS_CHECK(g.pad_h >= 0 && g.pad_w >= 0 && 2 * g.pad_h <= g.kernel_h && 2 * g.pad_w <= g.kernel_w, op,
             ": padding must be between 0 and half the kernel, got ", g.str());
    const std::int64_t OH = g.out_h(xs[2]), OW = g.out_w(xs[3]);
    GS_CHECK(OH > 0 && OW > 0, op, ": output size ", OH, " x ", OW, " is not positive for input ", shape_str(xs),
             " and ", g.str());
    return {xs[0], xs[1], OH, OW};
}

namespace {
void check_float(const char* op, const Tensor& t) {
    GS_CHECK(t.defined(), op, ": the input is undefined");
    GS_CHECK(is_floating(t.dtype()), op, ": expected f32 or f64, got ", dtype_name(t.dtype()));
}
// dy must have the output shape that x_shape and g give.
void check_grad(const char* op, const Tensor& dy, const Shape& x_shape, const Pool2dGeometry& g) {
    const Shape ys = validate_pool2d(op, x_shape, g);
    GS_CHECK(dy.shape() == ys, op, ": output gradient ", shape_str(dy.shape()), " does not match the output shape ",
             shape_str(ys), " of input ", shape_str(x_shape), " with ", g.str());
}
}  // namespace

MaxPool2dResult max_pool2d_forward(const Tensor& x, const Pool2dGeometry& g) {
    const char* op = "max_pool2d_forward";
    check_float(op, x);
    const Shape ys = validate_pool2d(op, x.shape(), g);
    MaxPool2dResult r{Tensor::empty(ys, x.dtype(), x.device()), Tensor::empty(ys, DType::i64, x.device())};
    const Tensor xc = x.contiguous();
    if (use_cuda(op, {&xc, &r.y, &r.indices})) GS_CUDA_CALL(cuda::max_pool2d_forward(xc, g, r.y, r.indices));
    else cpu::max_pool2d_forward(xc, g, r.y, r.indices);
    return r;
}

namespace {
// dy and indices: defined, the same device, i64 indices of dy's shape, and both fitting x_shape.
void check_max_backward(const char* op, const Tensor& dy, const Tensor& indices, const Shape& x_shape) {
    check_float(op, dy);
    GS_CHECK(indices.defined(), op, ": indices are undefined");
    check_same_device(op, {&dy, &indices});
    GS_CHECK(indices.dtype() == DType::i64, op, ": indices must be i64, got ", dtype_name(indices.dtype()));
    GS_CHECK(x_shape.size() == 4 && dy.dim() == 4 && indices.shape() == dy.shape() && dy.size(0) == x_shape[0] &&
                 dy.size(1) == x_shape[1],
             op, ": output gradient ", shape_str(dy.shape()), " and indices ", shape_str(indices.shape()),
             " do not fit the input shape ", shape_str(x_shape));
}
}  // namespace

Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape) {
    const char* op = "max_pool2d_backward";
    check_max_backward(op, dy, indices, x_shape);
    Tensor idx = indices.contiguous();
    const std::int64_t plane = x_shape[2] * x_shape[3];
    // Checked on the host (a copy for CUDA indices): a bad index must be an error, never a write
    // outside the plane.
    const Tensor host = idx.to(Device::cpu());
    const std::int64_t* p = host.data<std::int64_t>();
    for (std::int64_t i = 0; i < host.numel(); ++i)
        GS_CHECK(p[i] >= 0 && p[i] < plane, op, ": index ", p[i], " at position ", i, " is outside the ",
                 x_shape[2], " x ", x_shape[3], " input plane");
    Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
    const Tensor dyc = dy.contiguous();
    if (use_cuda(op, {&dyc, &idx, &dx})) GS_CUDA_CALL(cuda::max_pool2d_backward(dyc, idx, dx));
    else cpu::max_pool2d_backward(dyc, idx, dx);
    return dx;
}

Tensor max_pool2d_backward(const Tensor& dy, const Tensor& indices, const Shape& x_shape, const Pool2dGeometry& g) {
    const char* op = "max_pool2d_backward";
    check_max_backward(op, dy, indices, x_shape);
    check_grad(op, dy, x_shape, g);
    Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
    const Tensor dyc = dy.contiguous(), idx = indices.contiguous();
    if (use_cuda(op, {&dyc, &idx, &dx})) GS_CUDA_CALL(cuda::max_pool2d_backward(dyc, idx, g, dx));
    else cpu::max_pool2d_backward(dyc, idx, dx);
    return dx;
}

Tensor avg_pool2d_forward(const Tensor& x, const Pool2dGeometry& g, bool count_include_pad) {
    const char* op = "avg_pool2d_forward";
    check_float(op, x);
    const Shape ys = validate_pool2d(op, x.shape(), g);
    Tensor y = Tensor::empty(ys, x.dtype(), x.device());
    const Tensor xc = x.contiguous();
    if (use_cuda(op, {&xc, &y})) GS_CUDA_CALL(cuda::avg_pool2d_forward(xc, g, count_include_pad, y));
    else cpu::avg_pool2d_forward(xc, g, count_include_pad, y);
    return y;
}

Tensor avg_pool2d_backward(const Tensor& dy, const Shape& x_shape, const Pool2dGeometry& g, bool count_include_pad) {
    const char* op = "avg_pool2d_backward";
    check_float(op, dy);
    check_grad(op, dy, x_shape, g);
    Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
    const Tensor dyc = dy.contiguous();
    if (use_cuda(op, {&dyc, &dx})) GS_CUDA_CALL(cuda::avg_pool2d_backward(dyc, g, count_include_pad, dx));
    else cpu::avg_pool2d_backward(dyc, g, count_include_pad, dx);
    return dx;
}

}  // namespace gs::kernels
