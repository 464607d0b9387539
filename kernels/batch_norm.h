#pragma once
// Batch normalization over the channel dim (dim 1) of x: (N, C) or (N, C, H, W) (any number of
// trailing spatial dims is accepted; S below is their product, M = N*S the count per channel).
//
//   xhat = (x - mean[c]) * invstd[c],   y = gamma[c] * xhat + beta[c]
//
// gamma and beta are each optional: an undefined Tensor means "absent" (gamma = 1, beta = 0), which
// covers the affine, shift-only (beta only; the "one extra parameter per channel" variant) and
// no-affine layers. Training mode normalizes with the batch statistics; eval mode with running
// statistics the caller owns (updating them is the caller's business, not the kernel's).
//
// The per-element formulas live here as functors; batch_norm_cpu.cpp computes the per-channel sums
// (in double, in a fixed order that does not depend on the thread count) and applies them. On CUDA,
// batch_norm_cudnn.cpp runs cuDNN's batch norm, which implements the same formulas.
#include <cmath>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace gs::kernels {

// invstd = 1 / sqrt(var + eps) for the biased (training) or running (eval) variance.
struct BatchNormInvstd {
    template <class T>
    GS_HOST_DEVICE T operator()(T var, T eps) const { return T(1) / std::sqrt(var + eps); }
};

// y = gamma * (x - mean) * invstd + beta. Absent gamma/beta are passed as 1/0.
struct BatchNormForward {
    template <class T>
    GS_HOST_DEVICE T operator()(T x, T mean, T invstd, T gamma, T beta) const {
        return gamma * ((x - mean) * invstd) + beta;
    }
};

// Training-mode input gradient, with sum over the M elements of a channel written as Σ:
//   dx = gamma*invstd/M * (M*dy - Σdy - xhat*Σ(dy*xhat))
//      = scale * (dy - mean_dy - xhat * mean_dy_xhat)
// with scale = gamma*invstd, mean_dy = Σdy/M and mean_dy_xhat = Σ(dy*xhat)/M.
struct BatchNormBackwardTrain {
    template <class T>
    GS_HOST_DEVICE T operator()(T dy, T xhat, T scale, T mean_dy, T mean_dy_xhat) const {
        return scale * (dy - mean_dy - xhat * mean_dy_xhat);
    }
};

// Eval-mode input gradient: the running statistics are constants, so dx = dy * gamma * invstd.
struct BatchNormBackwardEval {
    template <class T>
    GS_HOST_DEVICE T operator()(T dy, T scale) const { return dy * scale; }
};

// The running-statistics update of a training step, as nn::BatchNorm and PyTorch define it:
//   running = (1 - momentum) * running + momentum * batch statistic,
// with the batch mean for running_mean and the UNBIASED batch variance (divides by M-1) for
// running_var. cuDNN's exponentialAverageFactor is this momentum exactly (its update is
// running*(1-factor) + batch*factor, with the unbiased variance).
struct BatchNormRunningUpdate {
    template <class T>
    GS_HOST_DEVICE T operator()(T running, T batch, T momentum) const {
        return (T(1) - momentum) * running + momentum * batch;
    }
};

// Running statistics a training forward updates in place: (C) tensors of x's dtype and device,
// contiguous; momentum in [0, 1].
struct BatchNormRunning {
    Tensor mean;
    Tensor var;
    double momentum = 0.1;
};

struct BatchNormTrainResult {
    Tensor y;        // x's shape
    Tensor mean;     // (C) batch mean, saved for backward
    Tensor invstd;   // (C) 1/sqrt(biased batch variance + eps), saved for backward
    Tensor var;      // (C) unbiased batch variance (divides by M-1), for the running-stat update;
                     // undefined when the forward was given `running` and did the update itself
};

struct BatchNormGrads {
    Tensor dx;       // x's shape; undefined unless requested
    Tensor dgamma;   // (C); undefined unless requested
    Tensor dbeta;    // (C); undefined unless requested
};

// x: (N, C, ...) f32/f64 with N*S >= 2 (a batch variance needs two values per channel);
// gamma, beta: (C) of x's dtype, or undefined (absent); eps >= 0. Returns y and the statistics.
// With `running`, also updates running->mean and running->var in place by BatchNormRunningUpdate
// (the one in-place write of these kernels, as in cuDNN) and leaves the result's var undefined.
BatchNormTrainResult batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                                              const BatchNormRunning* running = nullptr);

// x: (N, C, ...); running_mean, running_var: (C) of x's dtype; gamma, beta: (C) or undefined;
// eps >= 0. Returns y = gamma * (x - running_mean) / sqrt(running_var + eps) + beta.
Tensor batch_norm_forward_eval(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                               const Tensor& gamma, const Tensor& beta, double eps);

// dy, x: (N, C, ...); mean, invstd: (C) as returned by batch_norm_forward_train; gamma: (C) or
// undefined. Computes only the requested gradients: dx (formula above), dgamma = Σ(dy*xhat) and
// dbeta = Σdy per channel. dgamma may be requested with gamma absent (it is the gradient a gamma
// of ones would get). x, mean and invstd may be undefined when neither dx nor dgamma is requested
// (dbeta needs dy only), so a shift-only layer's backward need not keep x alive.
BatchNormGrads batch_norm_backward_train(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                                         const Tensor& gamma, bool need_dx, bool need_dgamma, bool need_dbeta);

// Eval-mode backward with running statistics held constant: dx = dy * gamma * invstd_running,
// dgamma = Σ(dy*xhat), dbeta = Σdy, where invstd_running = 1/sqrt(running_var + eps). x may be
// undefined unless dgamma is requested.
BatchNormGrads batch_norm_backward_eval(const Tensor& dy, const Tensor& x, const Tensor& running_mean,
                                        const Tensor& running_var, const Tensor& gamma, double eps, bool need_dx,
                                        bool need_dgamma, bool need_dbeta);

namespace cpu {
// Contiguous inputs, validated by the entry points; outputs pre-allocated and assigned.
// N, C, S describe x as (N, C, S). Undefined gamma/beta mean absent.
void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps, Tensor& y,
                              Tensor& mean, Tensor& invstd, Tensor& var);
void batch_norm_forward_eval(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                             const Tensor& gamma, const Tensor& beta, double eps, Tensor& y);
// Undefined outputs are skipped; x (and mean/invstd) are undefined exactly when the entry point
// allows it.
void batch_norm_backward_train(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                               const Tensor& gamma, Tensor& dx, Tensor& dgamma, Tensor& dbeta);
void batch_norm_backward_eval(const Tensor& dy, const Tensor& x, const Tensor& running_mean,
                              const Tensor& running_var, const Tensor& gamma, double eps, Tensor& dx, Tensor& dgamma,
                              Tensor& dbeta);
// running = BatchNormRunningUpdate(running, batch, momentum) elementwise, in place.
void batch_norm_update_running(const Tensor& batch_mean, const Tensor& batch_var, const BatchNormRunning& running);
}  // namespace cpu

namespace cuda {
// The same contracts on one CUDA device with cuDNN (batch_norm_cudnn.cpp). The training forward
// takes the running statistics itself (cuDNN updates them in the same pass): with `running`, var
// is undefined and is not written; without, var receives the unbiased batch variance.
void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                              const BatchNormRunning* running, Tensor& y, Tensor& mean, Tensor& invstd, Tensor& var);
void batch_norm_forward_eval(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                             const Tensor& gamma, const Tensor& beta, double eps, Tensor& y);
void batch_norm_backward_train(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                               const Tensor& gamma, Tensor& dx, Tensor& dgamma, Tensor& dbeta);
void batch_norm_backward_eval(const Tensor& dy, const Tensor& x, const Tensor& running_mean,
                              const Tensor& running_var, const Tensor& gamma, double eps, Tensor& dx, Tensor& dgamma,
                              Tensor& dbeta);
}  // namespace cuda

}  // namespace gs::kernels
