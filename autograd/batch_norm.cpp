// Batch norm: forward with the kernels of kernels/batch_norm.h, backward recorded beside it.
#include "autograd/batch_norm.h"

#include "autograd/function.h"
#include "kernels/batch_norm.h"

namespace gs::autograd {
namespace {

bool needs(const Variable& v) { return v.defined() && v.requires_grad(); }
Tensor value_or_none(const Variable& v) { return v.defined() ? v.value() : Tensor(); }

}  // namespace

BatchNormTrainOutput batch_norm_train(const Variable& x, const Variable& gamma, const Variable& beta, double eps,
                                      const kernels::BatchNormRunning* running) {
    const Tensor g = value_or_none(gamma);
    kernels::BatchNormTrainResult r = kernels::batch_norm_forward_train(x.value(), g, value_or_none(beta), eps, running);
    const bool need_dx = needs(x), need_dgamma = needs(gamma), need_dbeta = needs(beta);
    // dbeta needs only dy; dx and dgamma need x and the statistics; only dx needs gamma's value.
    const bool need_stats = need_dx || need_dgamma;
    const Tensor xs = need_stats ? x.value() : Tensor(), mean = need_stats ? r.mean : Tensor(),
                 invstd = need_stats ? r.invstd : Tensor(), gv = need_dx ? g : Tensor();
    Variable y = make_result(std::move(r.y), {x, gamma, beta}, "batch_norm_train", [=](const Tensor& dy) {
        kernels::BatchNormGrads d =
            kernels::batch_norm_backward_train(dy, xs, mean, invstd, gv, need_dx, need_dgamma, need_dbeta);
        return std::vector<Tensor>{d.dx, d.dgamma, d.dbeta};
    });
    return {std::move(y), std::move(r.mean), std::move(r.var)};
}

Variable batch_norm_eval(const Variable& x, const Tensor& running_mean, const Tensor& running_var,
                         const Variable& gamma, const Variable& beta, double eps) {
    const Tensor g = value_or_none(gamma);
    Tensor y = kernels::batch_norm_forward_eval(x.value(), running_mean, running_var, g, value_or_none(beta), eps);
    const bool need_dx = needs(x), need_dgamma = needs(gamma), need_dbeta = needs(beta);
    // x is needed only for dgamma (through xhat); only dx = dy * gamma * invstd needs gamma. The
    // running statistics are captured by handle: the caller must not update them in place before
    // this backward runs (the no-in-place rule for saved values).
    const Tensor xs = need_dgamma ? x.value() : Tensor(), gv = need_dx ? g : Tensor();
    return make_result(std::move(y), {x, gamma, beta}, "batch_norm_eval", [=](const Tensor& dy) {
        kernels::BatchNormGrads d = kernels::batch_norm_backward_eval(dy, xs, running_mean, running_var, gv, eps,
                                                                      need_dx, need_dgamma, need_dbeta);
        return std::vector<Tensor>{d.dx, d.dgamma, d.dbeta};
    });
}

}  // namespace gs::autograd
