// Batch norm on CUDA with cuDNN (spatial mode: statistics per channel over N and the trailing
// dims): training forward with the running-statistics update, eval forward, and both backwards,
// with gamma/beta optional as kernels/batch_norm.h defines them.
//
// What cuDNN does not offer directly is composed from cuDNN calls here:
//   - an absent gamma/beta: cuDNN always reads a scale and bias, so ones/zeros are passed;
//   - the unbiased batch variance alone (no running statistics to update): the update is run with
//     factor 1 into zeroed buffers, so it writes exactly the batch statistics;
//   - dbeta without x: a channel sum of dy (cudnnConvolutionBackwardBias, the same per-channel
//     reduction over N, H, W);
//   - the eval backward (running statistics held constant), which has no cuDNN call: dx is the
//     inference transform of dy with mean 0 and bias 0 (dy * gamma / sqrt(var + eps)); dgamma is the
//     channel sum of dy * xhat, xhat the inference transform of x with scale 1 and bias 0.
// NOTE: cuDNN 9 marks these calls deprecated (see design.md); they stay in this one file.
#include "kernels/batch_norm.h"
#include "kernels/cudnn_raii.h"
#include "tensor/cuda_check.h"
#include "tensor/cuda_context.h"

namespace gs::kernels::cuda {
namespace {

constexpr cudnnBatchNormMode_t kMode = CUDNN_BATCHNORM_SPATIAL;

// Descriptors of x viewed as (N, C, S, 1) and of the (1, C, 1, 1) per-channel tensors.
struct BnSetup {
    int device;
    cudnnHandle_t handle;
    cudnnDataType_t type;
    TensorDesc x, channel;
    BnSetup(const char* op, const Tensor& x_)
        : device(x_.device().index),
          handle(cudnn_handle(x_.device().index)),
          type(cudnn_dtype(x_.dtype(), op)),
          x(type, cudnn_desc::batch_norm_view(x_.shape(), op)),
          channel(type, cudnn_desc::channel_view(x_.size(1), op)) {}
};

// p when defined, else a (C) tensor of `fill` on x's device (cuDNN reads every pointer it gets).
Tensor or_filled(const Tensor& p, const Tensor& x, double fill) {
    return p.defined() ? p : Tensor::full({x.size(1)}, fill, x.dtype(), x.device());
}

void zero(const Tensor& t, int device) {
    GS_CUDA_CHECK(cudaMemsetAsync(t.raw_data(), 0, std::size_t(t.numel()) * t.itemsize(), cuda_stream(device)));
}

// An empty tensor: dgamma and dbeta are empty sums (zeros); dx is empty.
void zero_sums(const Tensor& dgamma, const Tensor& dbeta) {
    for (const Tensor* t : {&dgamma, &dbeta})
        if (t->defined() && t->numel() > 0) zero(*t, t->device().index);
}

// out (C) = sum of src (x's layout) over N and S, per channel.
template <class T>
void channel_sum(const BnSetup& s, const void* src, const Tensor& out) {
    const Scaling<T> k;
    GS_CUDNN_CHECK(
        cudnnConvolutionBackwardBias(s.handle, &k.one, s.x.get(), src, &k.zero, s.channel.get(), out.raw_data()));
}

// y = scale * (x - mean) / sqrt(var + eps) + bias, per channel (cuDNN's inference transform).
template <class T>
void inference(const BnSetup& s, const void* x, const Tensor& y, const Tensor& scale, const Tensor& bias,
               const Tensor& mean, const Tensor& var, double eps) {
    const Scaling<T> k;
    GS_CUDNN_CHECK(cudnnBatchNormalizationForwardInference(s.handle, kMode, &k.one, &k.zero, s.x.get(), x, s.x.get(),
                                                           y.raw_data(), s.channel.get(), scale.raw_data(),
                                                           bias.raw_data(), mean.raw_data(), var.raw_data(), eps));
}

template <class T>
void forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                   const BatchNormRunning* running, Tensor& y, Tensor& mean, Tensor& invstd, Tensor& var) {
    const char* op = "batch_norm_forward_train";
    CudaDeviceGuard guard(x.device().index);
    if (x.numel() == 0) return;  // no channels (the entry point rejects fewer than 2 values per channel)
    const BnSetup s(op, x);
    const Tensor scale = or_filled(gamma, x, 1.0), bias = or_filled(beta, x, 0.0);
    // cuDNN: running = running*(1 - factor) + batch*factor, with the unbiased variance; factor =
    // momentum is BatchNormRunningUpdate exactly. Without running statistics, factor 1 into zeroed
    // buffers yields the batch mean and unbiased variance themselves (0 * 0 stays 0; unzeroed
    // memory could hold NaN, and 0 * NaN is NaN).
    Tensor run_mean, run_var;
    double factor = 1.0;
    if (running) {
        run_mean = running->mean;
        run_var = running->var;
        factor = running->momentum;
    } else {
        run_mean = Tensor::empty({x.size(1)}, x.dtype(), x.device());
        run_var = var;
        zero(run_mean, s.device);
        zero(run_var, s.device);
    }
    const Scaling<T> k;
    GS_CUDNN_CHECK(cudnnBatchNormalizationForwardTraining(
        s.handle, kMode, &k.one, &k.zero, s.x.get(), x.raw_data(), s.x.get(), y.raw_data(), s.channel.get(),
        scale.raw_data(), bias.raw_data(), factor, run_mean.raw_data(), run_var.raw_data(), eps, mean.raw_data(),
        invstd.raw_data()));
}

template <class T>
void forward_eval(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& gamma,
                  const Tensor& beta, double eps, Tensor& y) {
    CudaDeviceGuard guard(x.device().index);
    if (x.numel() == 0) return;
    const BnSetup s("batch_norm_forward_eval", x);
    inference<T>(s, x.raw_data(), y, or_filled(gamma, x, 1.0), or_filled(beta, x, 0.0), running_mean, running_var,
                 eps);
}

template <class T>
void backward_train(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& invstd, const Tensor& gamma,
                    Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
    const char* op = "batch_norm_backward_train";
    CudaDeviceGuard guard(dy.device().index);
    if (dy.numel() == 0) return zero_sums(dgamma, dbeta);
    const BnSetup s(op, dy);
    if (!dx.defined() && !dgamma.defined()) return channel_sum<T>(s, dy.raw_data(), dbeta);  // x may be absent
    // cuDNN writes dx, dscale and dbias together: scratch for the ones not requested.
    const Tensor dx_out = dx.defined() ? dx : Tensor::empty_like(dy);
    const Tensor dg_out = dgamma.defined() ? dgamma : Tensor::empty({dy.size(1)}, dy.dtype(), dy.device());
    const Tensor db_out = dbeta.defined() ? dbeta : Tensor::empty({dy.size(1)}, dy.dtype(), dy.device());
    const Tensor scale = or_filled(gamma, dy, 1.0);
    const Scaling<T> k;
    // With the saved mean and 1/sqrt(var + eps) given, cuDNN does not recompute the statistics,
    // so epsilon is not used; CUDNN_BN_MIN_EPSILON satisfies its argument check.
    GS_CUDNN_CHECK(cudnnBatchNormalizationBackward(s.handle, kMode, &k.one, &k.zero, &k.one, &k.zero, s.x.get(),
                                                   x.raw_data(), s.x.get(), dy.raw_data(), s.x.get(),
                                                   dx_out.raw_data(), s.channel.get(), scale.raw_data(),
                                                   dg_out.raw_data(), db_out.raw_data(), CUDNN_BN_MIN_EPSILON,
                                                   mean.raw_data(), invstd.raw_data()));
}

template <class T>
void backward_eval(const Tensor& dy, const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                   const Tensor& gamma, double eps, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
    const char* op = "batch_norm_backward_eval";
    CudaDeviceGuard guard(dy.device().index);
    if (dy.numel() == 0) return zero_sums(dgamma, dbeta);
    const BnSetup s(op, dy);
    const Tensor zeros = Tensor::zeros({dy.size(1)}, dy.dtype(), dy.device());
    // dx = gamma * (dy - 0) / sqrt(running_var + eps) + 0.
    if (dx.defined()) inference<T>(s, dy.raw_data(), dx, or_filled(gamma, dy, 1.0), zeros, zeros, running_var, eps);
    if (dgamma.defined()) {
        // xhat = (x - running_mean) / sqrt(running_var + eps), then dgamma = sum(dy * xhat).
        const Tensor ones = Tensor::ones({dy.size(1)}, dy.dtype(), dy.device());
        Tensor prod = Tensor::empty_like(dy);
        inference<T>(s, x.raw_data(), prod, ones, zeros, running_mean, running_var, eps);
        const OpTensorDesc mul(CUDNN_OP_TENSOR_MUL, s.type);
        const Scaling<T> k;
        // prod = prod * dy in place: cuDNN allows the output to alias the first input A (not B alone).
        GS_CUDNN_CHECK(cudnnOpTensor(s.handle, mul.get(), &k.one, s.x.get(), prod.raw_data(), &k.one, s.x.get(),
                                     dy.raw_data(), &k.zero, s.x.get(), prod.raw_data()));
        channel_sum<T>(s, prod.raw_data(), dgamma);
    }
    if (dbeta.defined()) channel_sum<T>(s, dy.raw_data(), dbeta);
}

}  // namespace

void batch_norm_forward_train(const Tensor& x, const Tensor& gamma, const Tensor& beta, double eps,
                              const BatchNormRunning* running, Tensor& y, Tensor& mean, Tensor& invstd, Tensor& var) {
    visit_float(x.dtype(), "batch_norm_forward_train",
                [&](auto tag) { forward_train<decltype(tag)>(x, gamma, beta, eps, running, y, mean, invstd, var); });
}

void batch_norm_forward_eval(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                             const Tensor& gamma, const Tensor& beta, double eps, Tensor& y) {
    visit_float(x.dtype(), "batch_norm_forward_eval",
                [&](auto tag) { forward_eval<decltype(tag)>(x, running_mean, running_var, gamma, beta, eps, y); });
}

void batch_norm_backward_train(const Tensor& dy, const Tensor& x, const Tensor& mean, const Tensor& invstd,
                               const Tensor& gamma, Tensor& dx, Tensor& dgamma, Tensor& dbeta) {
    visit_float(dy.dtype(), "batch_norm_backward_train",
                [&](auto tag) { backward_train<decltype(tag)>(dy, x, mean, invstd, gamma, dx, dgamma, dbeta); });
}

void batch_norm_backward_eval(const Tensor& dy, const Tensor& x, const Tensor& running_mean,
                              const Tensor& running_var, const Tensor& gamma, double eps, Tensor& dx, Tensor& dgamma,
                              Tensor& dbeta) {
    visit_float(dy.dtype(), "batch_norm_backward_eval", [&](auto tag) {
        backward_eval<decltype(tag)>(dy, x, running_mean, running_var, gamma, eps, dx, dgamma, dbeta);
    });
}

}  // namespace gs::kernels::cuda
