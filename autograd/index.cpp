// Forward and backward of the index ops: each backward is the forward's adjoint kernel, so the
// closures save only the index (and shapes).
#include "autograd/index.h"

#include "autograd/function.h"
#include "kernels/index.h"

namespace gs::autograd {

namespace k = gs::kernels;

Variable index_select(const Variable& x, std::int64_t dim, const Tensor& index) {
    const Shape xs = x.shape();
    return make_result(k::index_select(x.value(), dim, index), {x}, "index_select",
                       [xs, dim, index](const Tensor& dy) { return std::vector{k::index_add(xs, dim, index, dy)}; });
}

Variable gather(const Variable& x, std::int64_t dim, const Tensor& index) {
    const Shape xs = x.shape();
    return make_result(k::gather(x.value(), dim, index), {x}, "gather",
                       [xs, dim, index](const Tensor& dy) { return std::vector{k::scatter_add(xs, dim, index, dy)}; });
}

Variable scatter_add(const Shape& shape, std::int64_t dim, const Tensor& index, const Variable& src) {
    const Shape ss = src.shape();
    return make_result(k::scatter_add(shape, dim, index, src.value()), {src}, "scatter_add",
                       [ss, dim, index](const Tensor& dy) {
                           Tensor g = k::gather(dy, dim, index);  // index's shape
                           if (g.shape() == ss) return std::vector{g};
                           // src is larger than index: the unread part gets no gradient.
                           Tensor dsrc = Tensor::zeros(ss, g.dtype(), g.device());
                           Tensor part = dsrc;
                           for (std::int64_t d = 0; d < g.dim(); ++d) part = part.narrow(d, 0, g.size(d));
                           part.copy_(g);
                           return std::vector{dsrc};
                       });
}

Variable index_add(const Shape& shape, std::int64_t dim, const Tensor& index, const Variable& src) {
    return make_result(k::index_add(shape, dim, index, src.value()), {src}, "index_add",
                       [dim, index](const Tensor& dy) { return std::vector{k::index_select(dy, dim, index)}; });
}

}  // namespace gs::autograd
