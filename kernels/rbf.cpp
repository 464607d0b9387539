// Pairwise distance and RBF kernel entry points: checks, then the CPU or CUDA implementation.
#include "kernels/rbf.h"

#include <cmath>

#include "kernels/dispatch.h"

namespace gs::kernels {
namespace {

Tensor run(const char* op, const Tensor& x, const Tensor& y, double gamma) {
    const bool on_cuda = use_cuda(op, {&x, &y});
    check_same_dtype(op, {&x, &y});
    GS_CHECK(is_floating(x.dtype()), op, ": expected f32 or f64 inputs, got ", x.describe());
    GS_CHECK(x.dim() == 2 && y.dim() == 2 && x.size(1) == y.size(1), op,
             ": expected x (N, D) and y (M, D) with one D, got ", x.describe(), " and ", y.describe());
    const bool same = x.shares_storage(y) && x.offset() == y.offset() && x.shape() == y.shape() &&
                      x.strides() == y.strides();
    Tensor out = Tensor::empty({x.size(0), y.size(0)}, x.dtype(), x.device());
    const Tensor xc = x.contiguous();
    const Tensor yc = same ? xc : y.contiguous();
    if (on_cuda) GS_CUDA_CALL(cuda::rbf_kernel(xc, yc, same, gamma, out));
    else cpu::rbf_kernel(xc, yc, same, gamma, out);
    return out;
}

}  // namespace

Tensor pairwise_sq_dist(const Tensor& x, const Tensor& y) { return run("pairwise_sq_dist", x, y, -1.0); }

Tensor rbf_kernel(const Tensor& x, const Tensor& y, double gamma) {
    GS_CHECK(std::isfinite(gamma) && gamma >= 0.0, "rbf_kernel: gamma must be finite and >= 0, got ", gamma);
    return run("rbf_kernel", x, y, gamma);
}

}  // namespace gs::kernels
