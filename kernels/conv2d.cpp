// conv2d entry points: validation, allocation and device dispatch.
#include <sstream>

#include "kernels/conv2d.h"
#include "kernels/dispatch.h"

namespace gs::kernels {

std::string Conv2dGeometry::str() const {
    std::ostringstream os;
    os << "stride=(" << stride_h << ", " << stride_w << ") padding=(" << pad_h << ", " << pad_w << ") dilation=("
       << dil_h << ", " << dil_w << ") groups=" << groups;
    return os.str();
}

Shape validate_conv2d(const char* op, const Shape& xs, const Shape& ws, const Conv2dGeometry& g) {
    GS_CHECK(xs.size() == 4, op, ": input must be 4-d (N, C, H, W), got ", shape_str(xs));
    GS_CHECK(ws.size() == 4, op, ": weight must be 4-d (K, C/groups, R, S), got ", shape_str(ws));
    GS_CHECK(g.stride_h > 0 && g.stride_w > 0 && g.dil_h > 0 && g.dil_w > 0 && g.pad_h >= 0 && g.pad_w >= 0 &&
                 g.groups > 0,
             op, ": invalid geometry ", g.str(), " (strides, dilations and groups must be positive, padding >= 0)");
    const std::int64_t C = xs[1], K = ws[0];
    GS_CHECK(C % g.groups == 0 && K % g.groups == 0, op, ": input channels ", C, " (input ", shape_str(xs),
             ") and output channels ", K, " (weight ", shape_str(ws), ") must both be divisible by groups=", g.groups);
    GS_CHECK(ws[1] * g.groups == C, op, ": weight ", shape_str(ws), " expects ", ws[1] * g.groups,
             " input channels with groups=", g.groups, " but the input ", shape_str(xs), " has ", C);
    GS_CHECK(ws[2] > 0 && ws[3] > 0, op, ": empty filter ", shape_str(ws));
    const std::int64_t OH = g.out_h(xs[2], ws[2]), OW = g.out_w(xs[3], ws[3]);
    GS_CHECK(OH > 0 && OW > 0, op, ": output size ", OH, " x ", OW, " is not positive for input ", shape_str(xs),
             ", weight ", shape_str(ws), " and ", g.str());
    return {xs[0], K, OH, OW};
}

namespace {
// Checks dtypes and devices; returns true when the tensors are on a CUDA device.
bool check_tensors(const char* op, std::initializer_list<const Tensor*> ts) {
    const bool cuda = use_cuda(op, ts);
    check_same_dtype(op, ts);
    GS_CHECK(is_floating((*ts.begin())->dtype()), op, ": expected f32 or f64, got ",
             dtype_name((*ts.begin())->dtype()));
    return cuda;
}
}  // namespace

Tensor conv2d_forward(const Tensor& x, const Tensor& w, const Tensor& b, const Conv2dGeometry& g) {
    const char* op = "conv2d_forward";
    bool cuda = false;
    if (b.defined()) {
        cuda = check_tensors(op, {&x, &w, &b});
        GS_CHECK(b.dim() == 1 && b.size(0) == w.size(0), op, ": bias ", shape_str(b.shape()),
                 " does not match weight ", shape_str(w.shape()));
    } else {
        cuda = check_tensors(op, {&x, &w});
    }
    const Shape ys = validate_conv2d(op, x.shape(), w.shape(), g);
    Tensor y = Tensor::empty(ys, x.dtype(), x.device());
    const Tensor xc = x.contiguous(), wc = w.contiguous(), bc = b.defined() ? b.contiguous() : b;
    if (cuda) GS_CUDA_CALL(cuda::conv2d_forward(xc, wc, bc, g, y));
    else cpu::conv2d_forward(xc, wc, bc, g, y);
    return y;
}

Tensor conv2d_backward_input(const Tensor& dy, const Tensor& w, const Shape& x_shape, const Conv2dGeometry& g) {
    const char* op = "conv2d_backward_input";
    const bool cuda = check_tensors(op, {&dy, &w});
    const Shape ys = validate_conv2d(op, x_shape, w.shape(), g);
    GS_CHECK(dy.shape() == ys, op, ": output gradient ", shape_str(dy.shape()), " does not match the output shape ",
             shape_str(ys), " of input ", shape_str(x_shape), " and weight ", shape_str(w.shape()));
    Tensor dx = Tensor::empty(x_shape, dy.dtype(), dy.device());
    if (cuda) GS_CUDA_CALL(cuda::conv2d_backward_input(dy.contiguous(), w.contiguous(), g, dx));
    else cpu::conv2d_backward_input(dy.contiguous(), w.contiguous(), g, dx);
    return dx;
}

Tensor conv2d_backward_weight(const Tensor& dy, const Tensor& x, const Shape& w_shape, const Conv2dGeometry& g) {
    const char* op = "conv2d_backward_weight";
    const bool cuda = check_tensors(op, {&dy, &x});
    const Shape ys = validate_conv2d(op, x.shape(), w_shape, g);
    GS_CHECK(dy.shape() == ys, op, ": output gradient ", shape_str(dy.shape()), " does not match the output shape ",
             shape_str(ys), " of input ", shape_str(x.shape()), " and weight ", shape_str(w_shape));
    Tensor dw = Tensor::empty(w_shape, dy.dtype(), dy.device());
    if (cuda) GS_CUDA_CALL(cuda::conv2d_backward_weight(dy.contiguous(), x.contiguous(), g, dw));
    else cpu::conv2d_backward_weight(dy.contiguous(), x.contiguous(), g, dw);
    return dw;
}

Tensor conv2d_backward_bias(const Tensor& dy) {
    const char* op = "conv2d_backward_bias";
    const bool cuda = check_tensors(op, {&dy});
    GS_CHECK(dy.dim() == 4, op, ": output gradient must be 4-d (N, K, OH, OW), got ", shape_str(dy.shape()));
    Tensor db = Tensor::empty({dy.size(1)}, dy.dtype(), dy.device());
    if (cuda) GS_CUDA_CALL(cuda::conv2d_backward_bias(dy.contiguous(), db));
    else cpu::conv2d_backward_bias(dy.contiguous(), db);
    return db;
}

}  // namespace gs::kernels
