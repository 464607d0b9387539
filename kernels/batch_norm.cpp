// Entry points of the batch-norm kernels: validation, allocation and device dispatch.
#include <cmath>

#include "kernels/batch_norm.h"
#include "kernels/dispatch.h"

namespace gs::kernels {
namespace {

// x: (N, C, ...) floating. Returns M = N * S, the number of values per channel.
std::int64_t check_input(const char* op, const Tensor& x) {
    GS_CHECK(x.defined(), op, ": the input is undefined");
    GS_CHECK(x.dim() >= 2, op, ": expected x of shape (N, C) or (N, C, H, W), got ", x.describe());
    GS_CHECK(is_floating(x.dtype()), op, ": expected a floating dtype (f32 or f64), got ", x.describe());
    std::int64_t m = x.size(0);
    for (std::int64_t d = 2; d < x.dim(); ++d) m *= x.size(d);
    return m;
}

// A per-channel tensor: (C), x's dtype and device. Undefined passes when `optional`.
void check_channel(const char* op, const Tensor& x, const Tensor& p, const char* what, bool optional) {
    if (!p.defined()) {
        GS_CHECK(optional, op, ": ", what, " is undefined");
        return;
    }
    GS_CHECK(p.dim() == 1 && p.size(0) == x.size(1), op, ": ", what, " must have shape [", x.size(1),
             "] (the channels of x ", x.describe(), "), got ", p.describe());
    GS_CHECK(p.dtype() == x.dtype(), op, ": ", what, " has dtype ", dtype_name(p.dtype()), " but x is ",
             dtype_name(x.dtype()));
    check_same_device(op, {&x, &p});
}

void check_eps(const char* op, double eps) {
    GS_CHECK(eps >= 0 && std::isfinite(eps), op, ": eps must be finite and >= 0, got ", eps);
}

Tensor contig(const Tensor& t) { return t.defined() ? t.contiguous() : t; }

// The running statistics a training forward updates in place.
void check_running(const char* op, const Tensor& x, const BatchNormRunning& r) {
    check_channel(op, x, r.mean, "running mean", false);
    check_channel(op, x, r.var, "running var", false);
    GS_CHECK(r.mean.is_contiguous() && r.var.is_contiguous(), op,
             ": the running statistics are updated in place and must be contiguous");
    GS_CHECK(!r.mean.shares_storage(r.var), op, ": running mean and running var must not share storage");
    GS_CHECK(r.momentum >= 0 && r.momentum <= 1, op, ": momentum must be in [0, 1], got ", r.momentum);
}

Tensor channel_empty(const Tensor& x) { return Tensor::empty({x.size(1)}, x.dtype(), x.device()); }

}  // namespace

BatchNormTrainResult batch_norm_forward_train(const Tensor& x_, const Tensor& gamma_, const Tensor& beta_, double eps,
                                              const BatchNormRunning* running) {
    const char* op = "batch_norm_forward_train";
    const std::int64_t M = check_input(op, x_);
    check_channel(op, x_, gamma_, "gamma", true);
    check_channel(op, x_, beta_, "beta", true);
    check_eps(op, eps);
    // One value per channel has no variance; say so rather than divide by zero.
    GS_CHECK(M >= 2, op, ": training needs at least 2 values per channel (N*H*W >= 2) to estimate a variance, x is ",
             x_.describe());
    if (running) check_running(op, x_, *running);
    const Tensor x = x_.contiguous(), gamma = contig(gamma_), beta = contig(beta_);
    BatchNormTrainResult r{Tensor::empty_like(x), channel_empty(x), channel_empty(x), Tensor()};
    if (use_cuda(op, {&x_})) {
        if (!running) r.var = channel_empty(x);
        GS_CUDA_CALL(cuda::batch_norm_forward_train(x, gamma, beta, eps, running, r.y, r.mean, r.invstd, r.var));
        return r;
    }
    Tensor var = channel_empty(x);
    cpu::batch_norm_forward_train(x, gamma, beta, eps, r.y, r.mean, r.invstd, var);
    if (running) cpu::batch_norm_update_running(r.mean, var, *running);
    else r.var = var;
    return r;
}

Tensor batch_norm_forward_eval(const Tensor& x_, const Tensor& running_mean, const Tensor& running_var,
                               const Tensor& gamma, const Tensor& beta, double eps) {
    const char* op = "batch_norm_forward_eval";
    check_input(op, x_);
    check_channel(op, x_, running_mean, "running_mean", false);
    check_channel(op, x_, running_var, "running_var", false);
    check_channel(op, x_, gamma, "gamma", true);
    check_channel(op, x_, beta, "beta", true);
    check_eps(op, eps);
    const Tensor x = x_.contiguous();
    Tensor y = Tensor::empty_like(x);
    if (use_cuda(op, {&x_}))
        GS_CUDA_CALL(cuda::batch_norm_forward_eval(x, running_mean.contiguous(), running_var.contiguous(),
                                                   contig(gamma), contig(beta), eps, y));
    else
        cpu::batch_norm_forward_eval(x, running_mean.contiguous(), running_var.contiguous(), contig(gamma),
                                     contig(beta), eps, y);
    return y;
}

namespace {

// dy (N, C, ...) floating; x, when given (or `x_required`), must match it.
void check_dy_x(const char* op, const Tensor& dy, const Tensor& x, bool x_required, const char* why) {
    check_input(op, dy);
    GS_CHECK(x.defined() || !x_required, op, ": x is needed for ", why, " but is undefined");
    if (x.defined()) {
        GS_CHECK(x.shape() == dy.shape() && x.dtype() == dy.dtype(), op, ": x must match dy ", dy.describe(),
                 ", got ", x.describe());
        check_same_device(op, {&dy, &x});
    }
}

BatchNormGrads alloc_grads(const Tensor& dy, bool need_dx, bool need_dgamma, bool need_dbeta) {
    BatchNormGrads g;
    if (need_dx) g.dx = Tensor::empty_like(dy);
    if (need_dgamma) g.dgamma = channel_empty(dy);
    if (need_dbeta) g.dbeta = channel_empty(dy);
    return g;
}

}  // namespace

BatchNormGrads batch_norm_backward_train(const Tensor& dy, const Tensor& x, const Tensor& mean,
                                         const Tensor& invstd, const Tensor& gamma, bool need_dx, bool need_dgamma,
                                         bool need_dbeta) {
    const char* op = "batch_norm_backward_train";
    const bool need_stats = need_dx || need_dgamma;
    check_dy_x(op, dy, x, need_stats, "dx and dgamma");
    check_channel(op, dy, mean, "mean", !need_stats);
    check_channel(op, dy, invstd, "invstd", !need_stats);
    check_channel(op, dy, gamma, "gamma", true);
    BatchNormGrads g = alloc_grads(dy, need_dx, need_dgamma, need_dbeta);
    if (!need_dx && !need_dgamma && !need_dbeta) return g;
    const Tensor xc = need_stats ? x.contiguous() : Tensor();
    if (use_cuda(op, {&dy}))
        GS_CUDA_CALL(cuda::batch_norm_backward_train(dy.contiguous(), xc, contig(mean), contig(invstd), contig(gamma),
                                                     g.dx, g.dgamma, g.dbeta));
    else
        cpu::batch_norm_backward_train(dy.contiguous(), xc, contig(mean), contig(invstd), contig(gamma), g.dx,
                                       g.dgamma, g.dbeta);
    return g;
}

BatchNormGrads batch_norm_backward_eval(const Tensor& dy, const Tensor& x, const Tensor& running_mean,
                                        const Tensor& running_var, const Tensor& gamma, double eps, bool need_dx,
                                        bool need_dgamma, bool need_dbeta) {
    const char* op = "batch_norm_backward_eval";
    check_dy_x(op, dy, x, need_dgamma, "dgamma");
    check_channel(op, dy, running_mean, "running_mean", false);
    check_channel(op, dy, running_var, "running_var", false);
    check_channel(op, dy, gamma, "gamma", true);
    check_eps(op, eps);
    BatchNormGrads g = alloc_grads(dy, need_dx, need_dgamma, need_dbeta);
    if (!need_dx && !need_dgamma && !need_dbeta) return g;
    const Tensor xc = need_dgamma ? x.contiguous() : Tensor();
    if (use_cuda(op, {&dy}))
        GS_CUDA_CALL(cuda::batch_norm_backward_eval(dy.contiguous(), xc, running_mean.contiguous(),
                                                    running_var.contiguous(), contig(gamma), eps, g.dx, g.dgamma,
                                                    g.dbeta));
    else
        cpu::batch_norm_backward_eval(dy.contiguous(), xc, running_mean.contiguous(), running_var.contiguous(),
                                      contig(gamma), eps, g.dx, g.dgamma, g.dbeta);
    return g;
}

}  // namespace gs::kernels
