#include "nn/layers.h"

#include <algorithm>
#include <string>

#include "autograd/batch_norm.h"
#include "autograd/conv2d.h"
#include "autograd/dropout.h"
#include "autograd/elementwise.h"
#include "autograd/linalg.h"
#include "autograd/local_response_norm.h"
#include "autograd/pool.h"
#include "autograd/reduce.h"
#include "autograd/shape.h"
#include "kernels/elementwise.h"
#include "nn/init.h"
#include "nn/per_example.h"
#include "tensor/dtype.h"
#include "tensor/error.h"

namespace gs::nn {

using autograd::Variable;

// ---- Linear -------------------------------------------------------------------------------------

Linear::Linear(std::int64_t in_features, std::int64_t out_features, Generator& gen, bool bias, DType dtype)
    : in_(in_features), out_(out_features) {
    GS_CHECK(in_features > 0 && out_features > 0, "Linear: features must be positive, got in=", in_features,
             " out=", out_features);
    Tensor w = Tensor::empty({out_features, in_features}, dtype);
    Tensor b = bias ? Tensor::empty({out_features}, dtype) : Tensor();
    init::pytorch_default(w, bias ? &b : nullptr, gen);
    register_parameter("weight", w);
    if (bias) register_parameter("bias", b);
}

Variable Linear::forward(const Variable& x) {
    GS_CHECK(x.dim() >= 1 && x.size(-1) == in_, "Linear: expected input (..., ", in_, "), got ",
             x.value().describe());
    const Variable y = autograd::linear(x, parameter("weight"), has_parameter("bias") ? parameter("bias") : Variable());
    return per_example_record(*this, x, y);  // y, unless a PerExampleCollector is active
}

// ---- Conv2d -------------------------------------------------------------------------------------

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Generator& gen,
               Conv2dOptions o)
    : in_(in_channels), out_(out_channels) {
    GS_CHECK(in_channels > 0 && out_channels > 0 && kernel > 0 && o.groups > 0, "Conv2d: in=", in_channels,
             " out=", out_channels, " kernel=", kernel, " groups=", o.groups, " must all be positive");
    GS_CHECK(in_channels % o.groups == 0 && out_channels % o.groups == 0, "Conv2d: groups=", o.groups,
             " must divide in=", in_channels, " and out=", out_channels);
    geom_.stride_h = geom_.stride_w = o.stride;
    geom_.pad_h = geom_.pad_w = o.padding;
    geom_.dil_h = geom_.dil_w = o.dilation;
    geom_.groups = o.groups;
    Tensor w = Tensor::empty({out_channels, in_channels / o.groups, kernel, kernel}, o.dtype);
    Tensor b = o.bias ? Tensor::empty({out_channels}, o.dtype) : Tensor();
    init::pytorch_default(w, o.bias ? &b : nullptr, gen);
    register_parameter("weight", w);
    if (o.bias) register_parameter("bias", b);
}

Variable Conv2d::forward(const Variable& x) {
    GS_CHECK(x.dim() == 4 && x.size(1) == in_, "Conv2d: expected input (N, ", in_, ", H, W), got ",
             x.value().describe());
    const Variable y = autograd::conv2d(x, parameter("weight"), has_parameter("bias") ? parameter("bias") : Variable(), geom_);
    return per_example_record(*this, x, y);  // y, unless a PerExampleCollector is active
}

// ---- BatchNorm ----------------------------------------------------------------------------------

BatchNorm::BatchNorm(std::int64_t channels, std::int64_t expected_dim, BatchNormOptions o)
    : channels_(channels), expected_dim_(expected_dim), opt_(o) {
    GS_CHECK(channels > 0, type_name(), ": channels must be positive, got ", channels);
    GS_CHECK(o.momentum >= 0 && o.momentum <= 1 && o.eps > 0, type_name(), ": needs momentum in [0, 1] and eps > 0, got momentum=",
             o.momentum, " eps=", o.eps);
    if (o.affine == BatchNormAffine::full) register_parameter("weight", Tensor::ones({channels}, o.dtype));
    if (o.affine != BatchNormAffine::none) register_parameter("bias", Tensor::zeros({channels}, o.dtype));
    register_buffer("running_mean", Tensor::zeros({channels}, o.dtype));
    register_buffer("running_var", Tensor::ones({channels}, o.dtype));
    register_buffer("num_batches_tracked", Tensor::zeros({}, DType::i64));
}

Variable BatchNorm::forward(const Variable& x) {
    GS_CHECK(x.dim() == expected_dim_ && x.size(1) == channels_, type_name(), ": expected input ",
             expected_dim_ == 2 ? "(N, " : "(N, ", channels_, expected_dim_ == 2 ? ")" : ", H, W)", ", got ",
             x.value().describe());
    const Variable gamma = has_parameter("weight") ? parameter("weight") : Variable();
    const Variable beta = has_parameter("bias") ? parameter("bias") : Variable();
    if (!is_training()) {
        const Variable y = autograd::batch_norm_eval(x, buffer("running_mean"), buffer("running_var"), gamma, beta, opt_.eps);
        return per_example_record(*this, x, y);  // y, unless a PerExampleCollector is active
    }
    // An active PerExampleCollector refuses training mode (it couples examples) before any
    // running statistic moves; without one this is a no-op.
    (void)per_example_record(*this, x, Variable());
    // The kernel updates the running statistics in place, on the device they live on.
    const kernels::BatchNormRunning running{buffer("running_mean"), buffer("running_var"), opt_.momentum};
    autograd::BatchNormTrainOutput out = autograd::batch_norm_train(x, gamma, beta, opt_.eps, &running);
    Tensor tracked = buffer("num_batches_tracked");
    tracked.copy_(kernels::increment(tracked));  // on the buffer's device, no host round trip
    return out.y;
}

// ---- activations, dropout, pooling, reshaping -------------------------------------------------------

Variable ReLU::forward(const Variable& x) { return autograd::relu(x); }

Dropout::Dropout(double p, Generator gen) : p_(p), gen_(gen) {
    GS_CHECK(p >= 0 && p < 1, "Dropout: p must be in [0, 1), got ", p);
}

Variable Dropout::forward(const Variable& x) { return autograd::dropout(x, p_, gen_, is_training()); }

namespace {

kernels::Pool2dGeometry pool_geometry(const char* op, std::int64_t kernel, std::int64_t stride, std::int64_t padding) {
    GS_CHECK(kernel > 0 && stride >= 0 && padding >= 0, op, ": kernel=", kernel, " stride=", stride,
             " padding=", padding, " (kernel > 0, stride >= 0, padding >= 0)");
    kernels::Pool2dGeometry g;
    g.kernel_h = g.kernel_w = kernel;
    g.stride_h = g.stride_w = stride == 0 ? kernel : stride;
    g.pad_h = g.pad_w = padding;
    return g;
}

}  // namespace

MaxPool2d::MaxPool2d(std::int64_t kernel, std::int64_t stride, std::int64_t padding)
    : geom_(pool_geometry("MaxPool2d", kernel, stride, padding)) {}

Variable MaxPool2d::forward(const Variable& x) { return autograd::max_pool2d(x, geom_); }

AvgPool2d::AvgPool2d(std::int64_t kernel, std::int64_t stride, std::int64_t padding, bool count_include_pad)
    : geom_(pool_geometry("AvgPool2d", kernel, stride, padding)), count_include_pad_(count_include_pad) {}

Variable AvgPool2d::forward(const Variable& x) { return autograd::avg_pool2d(x, geom_, count_include_pad_); }

Variable GlobalAvgPool::forward(const Variable& x) {
    GS_CHECK(x.dim() == 4, "GlobalAvgPool: expected input (N, C, H, W), got ", x.value().describe());
    return autograd::mean(x, {2, 3}, keepdim_);
}

Variable Flatten::forward(const Variable& x) { return autograd::flatten(x, start_, end_); }

LocalResponseNorm::LocalResponseNorm(std::int64_t size, double alpha, double beta, double k)
    : size_(size), alpha_(alpha), beta_(beta), k_(k) {
    GS_CHECK(size > 0, "LocalResponseNorm: size must be positive, got ", size);
    GS_CHECK(alpha >= 0 && k > 0, "LocalResponseNorm: need alpha >= 0 and k > 0, got alpha ", alpha, " and k ", k);
}

Variable LocalResponseNorm::forward(const Variable& x) {
    GS_CHECK(x.dim() >= 3, "LocalResponseNorm: expected input (N, C, ...) with dim >= 3, got ", x.value().describe());
    return autograd::local_response_norm(x, kernels::LrnParams{size_, alpha_, beta_, k_});
}

// ---- containers -------------------------------------------------------------------------------

Sequential::Sequential(std::vector<std::shared_ptr<Module>> modules) {
    for (auto& m : modules) push_back(std::move(m));
}

Sequential& Sequential::push_back(std::shared_ptr<Module> m) {
    add_child(std::to_string(named_children().size()), std::move(m));
    return *this;
}

Variable Sequential::forward(const Variable& x) {
    Variable y = x;
    for (const auto& [name, m] : named_children()) y = m->forward(y);
    return y;
}

Concat::Concat(std::vector<std::shared_ptr<Module>> branches) {
    for (auto& b : branches) add(std::move(b));
}

Concat& Concat::add(std::shared_ptr<Module> branch) { return add(std::to_string(named_children().size()), std::move(branch)); }

Concat& Concat::add(const std::string& name, std::shared_ptr<Module> branch) {
    add_child(name, std::move(branch));
    return *this;
}

Variable Concat::forward(const Variable& x) {
    GS_CHECK(!named_children().empty(), "Concat: no branches");
    std::vector<Variable> ys;
    for (const auto& [name, m] : named_children()) ys.push_back(m->forward(x));
    return autograd::concat(ys, 1);
}

}  // namespace gs::nn
