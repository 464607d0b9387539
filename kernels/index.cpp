// Entry points of kernels/index.h: shape and index validation, output allocation, dispatch.
#include "kernels/dispatch.h"
#include "kernels/index.h"

namespace gs::kernels {

namespace {

// index: defined, i64, on the device of `other`; every entry in [0, size). The first bad entry is
// reported. Returns the contiguous index on its own device. CUDA indices are checked from a host
// copy, so that a bad entry is an error naming it rather than an out-of-bounds access on the device.
Tensor checked_index(const char* op, const Tensor& index, std::int64_t dim, std::int64_t size, const Tensor& other) {
    GS_CHECK(index.defined(), op, ": index is undefined");
    GS_CHECK(index.dtype() == DType::i64, op, ": index must be i64, got ", index.describe());
    check_same_device(op, {&other, &index});
    Tensor idx = index.contiguous();
    const Tensor host = idx.to(Device::cpu());
    const std::int64_t* p = host.data<std::int64_t>();
    for (std::int64_t i = 0; i < host.numel(); ++i)
        GS_CHECK(p[i] >= 0 && p[i] < size, op, ": index ", p[i], " is out of range for dim ", dim, " of size ", size,
                 " (valid: [0, ", size, "))");
    return idx;
}

// Sizes before, at and after `dim`.
void split_at(const Shape& s, std::int64_t dim, std::int64_t& O, std::int64_t& N, std::int64_t& I) {
    O = 1, I = 1;
    for (std::int64_t d = 0; d < dim; ++d) O *= s[std::size_t(d)];
    N = s[std::size_t(dim)];
    for (std::size_t d = std::size_t(dim) + 1; d < s.size(); ++d) I *= s[d];
}

}  // namespace

Tensor index_select(const Tensor& x, std::int64_t dim, const Tensor& index) {
    GS_CHECK(x.defined(), "index_select: x is undefined");
    GS_CHECK(x.dim() >= 1, "index_select: x must have at least one dim, got ", x.describe());
    dim = wrap_dim(dim, x.dim(), "index_select");
    GS_CHECK(index.defined() && index.dim() == 1, "index_select: index must be 1-d, got ",
             index.defined() ? index.describe() : std::string("undefined"));
    const Tensor idx = checked_index("index_select", index, dim, x.size(dim), x);
    Shape out_shape = x.shape();
    out_shape[std::size_t(dim)] = idx.numel();
    Tensor out = Tensor::empty(out_shape, x.dtype(), x.device());
    if (out.numel() == 0) return out;
    std::int64_t O, N, I;
    split_at(x.shape(), dim, O, N, I);
    const Tensor xc = x.contiguous();
    if (use_cuda("index_select", {&xc, &idx, &out})) GS_CUDA_CALL(cuda::index_select(xc, O, N, I, idx, out));
    else cpu::index_select(xc, O, N, I, idx, out);
    return out;
}

Tensor index_add(const Shape& shape, std::int64_t dim, const Tensor& index, const Tensor& src) {
    GS_CHECK(src.defined(), "index_add: src is undefined");
    GS_CHECK(!shape.empty(), "index_add: shape must have at least one dim");
    dim = wrap_dim(dim, std::int64_t(shape.size()), "index_add");
    GS_CHECK(index.defined() && index.dim() == 1, "index_add: index must be 1-d, got ",
             index.defined() ? index.describe() : std::string("undefined"));
    const Tensor idx = checked_index("index_add", index, dim, shape[std::size_t(dim)], src);
    Shape want = shape;
    want[std::size_t(dim)] = idx.numel();
    GS_CHECK(src.shape() == want, "index_add: src has shape ", shape_str(src.shape()), ", expected ", shape_str(want),
             " (shape ", shape_str(shape), " with ", idx.numel(), " indices at dim ", dim, ")");
    Tensor out = Tensor::empty(shape, src.dtype(), src.device());
    if (out.numel() == 0) return out;
    std::int64_t O, N, I;
    split_at(shape, dim, O, N, I);
    const Tensor sc = src.contiguous();
    if (use_cuda("index_add", {&sc, &idx, &out})) GS_CUDA_CALL(cuda::index_add(sc, O, N, I, idx, out));
    else cpu::index_add(sc, O, N, I, idx, out);
    return out;
}

Tensor gather(const Tensor& x, std::int64_t dim, const Tensor& index) {
    GS_CHECK(x.defined() && index.defined(), "gather: an input tensor is undefined");
    GS_CHECK(x.dim() >= 1, "gather: x must have at least one dim, got ", x.describe());
    dim = wrap_dim(dim, x.dim(), "gather");
    GS_CHECK(index.dim() == x.dim(), "gather: index must have x's ndim; x is ", x.describe(), ", index is ",
             index.describe());
    for (std::int64_t d = 0; d < x.dim(); ++d)
        GS_CHECK(d == dim || index.size(d) <= x.size(d), "gather: index ", shape_str(index.shape()),
                 " is larger than x ", shape_str(x.shape()), " at dim ", d);
    const Tensor idx = checked_index("gather", index, dim, x.size(dim), x);
    Tensor out = Tensor::empty(idx.shape(), x.dtype(), x.device());
    if (out.numel() == 0) return out;
    if (use_cuda("gather", {&x, &idx, &out})) GS_CUDA_CALL(cuda::gather(x, dim, idx, out));
    else cpu::gather(x, dim, idx, out);
    return out;
}

Tensor scatter_add(const Shape& shape, std::int64_t dim, const Tensor& index, const Tensor& src) {
    GS_CHECK(src.defined() && index.defined(), "scatter_add: an input tensor is undefined");
    const std::int64_t nd = std::int64_t(shape.size());
    GS_CHECK(nd >= 1, "scatter_add: shape must have at least one dim");
    dim = wrap_dim(dim, nd, "scatter_add");
    GS_CHECK(index.dim() == nd && src.dim() == nd, "scatter_add: index and src must have ", nd,
             " dims (shape ", shape_str(shape), "); index is ", index.describe(), ", src is ", src.describe());
    for (std::int64_t d = 0; d < nd; ++d) {
        GS_CHECK(d == dim || index.size(d) <= shape[std::size_t(d)], "scatter_add: index ",
                 shape_str(index.shape()), " is larger than the output ", shape_str(shape), " at dim ", d);
        GS_CHECK(index.size(d) <= src.size(d), "scatter_add: index ", shape_str(index.shape()),
                 " is larger than src ", shape_str(src.shape()), " at dim ", d);
    }
    const Tensor idx = checked_index("scatter_add", index, dim, shape[std::size_t(dim)], src);
    Tensor out = Tensor::empty(shape, src.dtype(), src.device());
    if (out.numel() == 0) return out;
    if (use_cuda("scatter_add", {&src, &idx, &out})) GS_CUDA_CALL(cuda::scatter_add(src, dim, idx, out));
    else cpu::scatter_add(src, dim, idx, out);
    return out;
}

}  // namespace gs::kernels
