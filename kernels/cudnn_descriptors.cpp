// Descriptor arithmetic for the cuDNN calls (see cudnn_descriptors.h). No cuDNN headers here.
#include "kernels/cudnn_descriptors.h"

#include <algorithm>
#include <limits>

namespace gs::kernels::cudnn_desc {
namespace {

using i64 = std::int64_t;
constexpr i64 kIntMax = std::numeric_limits<int>::max();

int to_int(i64 v, const char* op, const char* what, const Shape& shape) {
    GS_CHECK(v >= 0 && v <= kIntMax, op, ": ", what, " ", v, " of a tensor of shape ", shape_str(shape),
             " does not fit cuDNN's 32-bit sizes (split the batch)");
    return int(v);
}

Dims4 packed(const std::array<i64, 4>& d, const char* op, const Shape& shape) {
    Dims4 r{};
    i64 stride = 1;
    for (int k = 3; k >= 0; --k) {
        r.dims[std::size_t(k)] = to_int(d[std::size_t(k)], op, "size", shape);
        r.strides[std::size_t(k)] = to_int(stride, op, "stride", shape);
        stride *= std::max<i64>(d[std::size_t(k)], 1);
    }
    to_int(stride, op, "element count", shape);
    return r;
}

}  // namespace

Dims4 packed_nchw(const Shape& shape, const char* op) {
    GS_CHECK(shape.size() == 4, op, ": cuDNN needs a 4-d (N, C, H, W) tensor, got ", shape_str(shape));
    return packed({shape[0], shape[1], shape[2], shape[3]}, op, shape);
}

Dims4 batch_norm_view(const Shape& x_shape, const char* op) {
    GS_CHECK(x_shape.size() >= 2, op, ": expected (N, C, ...), got ", shape_str(x_shape));
    i64 S = 1;
    for (std::size_t d = 2; d < x_shape.size(); ++d) S *= x_shape[d];
    return packed({x_shape[0], x_shape[1], S, 1}, op, x_shape);
}

Dims4 channel_view(i64 C, const char* op) { return packed({1, C, 1, 1}, op, Shape{C}); }

Dims4 flat_view(i64 n, const char* op) { return packed({1, 1, 1, n}, op, Shape{n}); }

std::vector<std::pair<i64, i64>> chunks(i64 n, i64 max_chunk) {
    GS_CHECK(max_chunk > 0, "cudnn_desc::chunks: max_chunk must be positive, got ", max_chunk);
    std::vector<std::pair<i64, i64>> out;
    for (i64 b = 0; b < n; b += max_chunk) out.push_back({b, std::min(n, b + max_chunk)});
    return out;
}

ConvParams conv_params(const Conv2dGeometry& g, const char* op) {
    auto fit = [&](i64 v, const char* what) {
        GS_CHECK(v >= 0 && v <= kIntMax, op, ": ", what, " ", v, " of ", g.str(), " does not fit cuDNN's 32-bit sizes");
        return int(v);
    };
    return {fit(g.pad_h, "padding"),   fit(g.pad_w, "padding"), fit(g.stride_h, "stride"), fit(g.stride_w, "stride"),
            fit(g.dil_h, "dilation"), fit(g.dil_w, "dilation"), fit(g.groups, "groups")};
}

std::array<int, 4> conv_output_dims(const Dims4& x, const Dims4& w, const ConvParams& p) {
    // In 64 bits: the int inputs can overflow an int sum. Floor division as cuDNN's formula means
    // it for a non-negative numerator; a negative one (filter larger than the padded input) yields
    // a non-positive size, which validate_conv2d rejects before any descriptor is made.
    auto out = [](i64 in, i64 filter, i64 pad, i64 stride, i64 dil) {
        const i64 span = in + 2 * pad - ((filter - 1) * dil + 1);
        return int(1 + (span >= 0 ? span / stride : -((-span + stride - 1) / stride)));
    };
    return {x.dims[0], w.dims[0], out(x.dims[2], w.dims[2], p.pad_h, p.stride_h, p.dil_h),
            out(x.dims[3], w.dims[3], p.pad_w, p.stride_w, p.dil_w)};
}

}  // namespace gs::kernels::cudnn_desc
