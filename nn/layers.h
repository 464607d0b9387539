#pragma once
// The standard layers. Parameter names, shapes and layouts are PyTorch's (Linear weight (out, in),
// Conv2d weight (K, C/groups, R, S), BatchNorm weight/bias/running_mean/running_var/
// num_batches_tracked), so state dicts exchange with PyTorch unchanged. Every layer with
// parameters takes a Generator for its initialization and a dtype (f32 by default; tests use f64).
#include <cstdint>
#include <memory>

#include "autograd/variable.h"
#include "kernels/conv2d.h"
#include "kernels/pool.h"
#include "nn/module.h"
#include "tensor/random.h"

namespace gs::nn {

// y (N, out) = x (N, in) W^T + b; x may have extra leading dims (..., in). Init: PyTorch default.
class Linear : public Module {
public:
    Linear(std::int64_t in_features, std::int64_t out_features, Generator& gen, bool bias = true,
           DType dtype = DType::f32);
    autograd::Variable forward(const autograd::Variable& x) override;
    std::string type_name() const override { return "Linear"; }
    std::int64_t in_features() const { return in_; }
    std::int64_t out_features() const { return out_; }

private:
    std::int64_t in_, out_;
};

struct Conv2dOptions {
    std::int64_t stride = 1;
    std::int64_t padding = 0;
    std::int64_t dilation = 1;
    std::int64_t groups = 1;
    bool bias = true;
    DType dtype = DType::f32;
};

// y (N, K, OH, OW) = conv2d(x (N, C, H, W), weight (K, C/groups, R, S)) + bias (K); square kernel
// of size `kernel` (R = S). Init: PyTorch default.
class Conv2d : public Module {
public:
    Conv2d(std::int64_t in_channels, std::int64_t out_channels, std::int64_t kernel, Generator& gen,
           Conv2dOptions options = {});
    autograd::Variable forward(const autograd::Variable& x) override;
    std::string type_name() const override { return "Conv2d"; }
    const kernels::Conv2dGeometry& geometry() const { return geom_; }

private:
    std::int64_t in_, out_;
    kernels::Conv2dGeometry geom_;
};

// Which learnable per-channel parameters a BatchNorm has: gamma and beta ("weight", "bias"), only
// beta ("bias"; the "one extra parameter per channel" variant of the Zhang et al. models), or none.
enum class BatchNormAffine { full, shift, none };

struct BatchNormOptions {
    double eps = 1e-5;
    double momentum = 0.1;  // running = (1 - momentum) * running + momentum * batch statistic
    BatchNormAffine affine = BatchNormAffine::full;
    DType dtype = DType::f32;
};

// Batch normalization over dim 1. Training: normalizes with the batch mean and biased variance,
// and updates running_mean with the batch mean and running_var with the UNBIASED batch variance
// (PyTorch's convention), and counts num_batches_tracked (i64, 0-d). Eval: uses the running
// statistics. Initial state: weight 1, bias 0, running_mean 0, running_var 1.
class BatchNorm : public Module {
public:
    // expected_dim: 2 for BatchNorm1d ((N, C) inputs), 4 for BatchNorm2d ((N, C, H, W)).
    BatchNorm(std::int64_t channels, std::int64_t expected_dim, BatchNormOptions options = {});
    autograd::Variable forward(const autograd::Variable& x) override;
    std::string type_name() const override { return expected_dim_ == 2 ? "BatchNorm1d" : "BatchNorm2d"; }
    const BatchNormOptions& options() const { return opt_; }

private:
    std::int64_t channels_, expected_dim_;
    BatchNormOptions opt_;
};

class BatchNorm1d : public BatchNorm {
public:
    explicit BatchNorm1d(std::int64_t channels, BatchNormOptions options = {}) : BatchNorm(channels, 2, options) {}
};

class BatchNorm2d : public BatchNorm {
public:
    explicit BatchNorm2d(std::int64_t channels, BatchNormOptions options = {}) : BatchNorm(channels, 4, options) {}
};

class ReLU : public Module {
public:
    autograd::Variable forward(const autograd::Variable& x) override;
    std::string type_name() const override { return "ReLU"; }
};

// Inverted dropout with probability p in training mode, the identity in eval mode. Owns its
// Generator (seeded at construction); generator() is its full state for checkpoints.
class Dropout : public Module {
public:
    explicit Dropout(double p = 0.5, Generator gen = Generator(0, 0));
    autograd::Variable forward(const autograd::Variable& x) override;
    std::string type_name() const override { return "Dropout"; }
    Generator& generator() { return gen_; }
    const Generator& generator() const { return gen_; }
    double p() const { return p_; }

private:
    double p_;
    Generator gen_;
};

// kernel x kernel windows; stride 0 means stride = kernel (PyTorch's default).
class MaxPool2d : public Module {
public:
    explicit MaxPool2d(std::int64_t kernel, std::int64_t stride = 0, std::int64_t padding = 0);
    autograd::Variable forward(const autograd::Variable& x) override;
    std::string type_name() const override { return "MaxPool2d"; }

private:
    kernels::Pool2dGeometry geom_;
};

class AvgPool2d : public Module {
public:
    explicit AvgPool2d(std::int64_t kernel, std::int64_t stride = 0, std::int64_t padding = 0,
                       bool count_include_pad = true);
    autograd::Variable forward(const autograd::Variable& x) override;
    std::string type_name() const override { return "AvgPool2d"; }

private:
    kernels::Pool2dGeometry geom_;
    bool count_include_pad_;
};

// (N, C, H, W) -> (N, C): the mean over H and W (PyTorch's AdaptiveAvgPool2d(1) followed by
// flatten; keepdim gives (N, C, 1, 1) instead).
class GlobalAvgPool : public Module {
public:
    explicit GlobalAvgPool(bool keepdim = false) : keepdim_(keepdim) {}
    autograd::Variable forward(const autograd::Variable& x) override;
    std::string type_name() const override { return "GlobalAvgPool"; }

private:
    bool keepdim_;
};

// Flattens dims start..end (default: all but the batch dim).
class Flatten : public Module {
public:
    explicit Flatten(std::int64_t start = 1, std::int64_t end = -1) : start_(start), end_(end) {}
    autograd::Variable forward(const autograd::Variable& x) override;
    std::string type_name() const override { return "Flatten"; }

private:
    std::int64_t start_, end_;
};

// Local response normalization across channels (AlexNet; PyTorch's LocalResponseNorm):
//     y_c = x_c / (k + alpha / size * sum_{c' in [c - size/2, c + (size-1)/2]} x_{c'}^2)^beta
// with channels outside [0, C) contributing 0. x: (N, C, ...) with at least one trailing dim;
// alpha >= 0 and k > 0. One fused kernel each way (autograd/local_response_norm.h).
class LocalResponseNorm : public Module {
public:
    explicit LocalResponseNorm(std::int64_t size, double alpha = 1e-4, double beta = 0.75, double k = 1.0);
    autograd::Variable forward(const autograd::Variable& x) override;
    std::string type_name() const override { return "LocalResponseNorm"; }

private:
    std::int64_t size_;
    double alpha_, beta_, k_;
};

// Runs its children in order; children are named "0", "1", ... as in torch.nn.Sequential.
class Sequential : public Module {
public:
    Sequential() = default;
    explicit Sequential(std::vector<std::shared_ptr<Module>> modules);
    // Appends a module under the next index name; returns *this for chaining.
    Sequential& push_back(std::shared_ptr<Module> m);
    autograd::Variable forward(const autograd::Variable& x) override;
    std::string type_name() const override { return "Sequential"; }
    std::size_t size() const { return named_children().size(); }
    const std::shared_ptr<Module>& operator[](std::size_t i) const { return named_children().at(i).second; }
};

// Inception-style block: runs every branch on the same input and concatenates the results along
// dim 1 (channels). Branches are named "0", "1", ... unless a name is given.
class Concat : public Module {
public:
    Concat() = default;
    explicit Concat(std::vector<std::shared_ptr<Module>> branches);
    Concat& add(std::shared_ptr<Module> branch);
    Concat& add(const std::string& name, std::shared_ptr<Module> branch);
    autograd::Variable forward(const autograd::Variable& x) override;
    std::string type_name() const override { return "Concat"; }
};

}  // namespace gs::nn
