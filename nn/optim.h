#pragma once
// Optimizers: SGD (momentum, Nesterov, weight decay) and Adam, with PyTorch's update rules. The
// elementwise formulas live in kernels/sgd.h and kernels/adam.h; step() applies them to every
// parameter that has a gradient, writing the parameter values in place (no graph is recorded).
// State (momentum buffers, moments, step count) is exposed as named tensors and scalars so that a
// checkpoint restores training exactly.
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "kernels/adam.h"
#include "kernels/sgd.h"
#include "nn/module.h"

namespace gs::nn {

class Optimizer {
public:
    // params: named parameters (module.named_parameters()); the names key the state tensors.
    explicit Optimizer(NamedVariables params);
    virtual ~Optimizer() = default;

    // Applies one update to every parameter with a defined gradient and counts the step.
    virtual void step() = 0;
    // Drops every parameter's gradient.
    void zero_grad();

    // "SGD", "Adam": recorded in checkpoints so that state is never loaded into another kind.
    virtual std::string type_name() const = 0;
    virtual double lr() const = 0;
    virtual void set_lr(double lr) = 0;  // what a schedule calls before each step
    std::int64_t steps() const { return steps_; }

    // State tensors named "<param name>.<kind>" (kind: momentum_buffer, exp_avg, exp_avg_sq),
    // live handles (clone to snapshot), and scalars ("step", "lr").
    virtual NamedTensors state_tensors() const = 0;
    std::vector<std::pair<std::string, double>> state_scalars() const;
    // Restores state saved by state_tensors()/state_scalars(); throws naming any missing,
    // unexpected or mismatched entry, before changing anything.
    void load_state(const NamedTensors& tensors, const std::vector<std::pair<std::string, double>>& scalars);

protected:
    NamedVariables params_;
    std::int64_t steps_ = 0;
};

struct SgdOptions {
    double lr = 0.01;
    double momentum = 0;
    double weight_decay = 0;
    bool nesterov = false;  // needs momentum > 0
};

class SGD : public Optimizer {
public:
    SGD(NamedVariables params, SgdOptions options);
    void step() override;
    std::string type_name() const override { return "SGD"; }
    double lr() const override { return opt_.lr; }
    void set_lr(double lr) override { opt_.lr = lr; }
    NamedTensors state_tensors() const override;

private:
    SgdOptions opt_;
    std::vector<Tensor> velocity_;  // one per parameter (zeros), only with momentum
};

struct AdamOptions {
    double lr = 1e-3;
    double beta1 = 0.9, beta2 = 0.999;
    double eps = 1e-8;
    double weight_decay = 0;  // L2 added to the gradient (torch.optim.Adam, not AdamW)
};

class Adam : public Optimizer {
public:
    Adam(NamedVariables params, AdamOptions options);
    void step() override;
    std::string type_name() const override { return "Adam"; }
    double lr() const override { return opt_.lr; }
    void set_lr(double lr) override { opt_.lr = lr; }
    NamedTensors state_tensors() const override;

private:
    AdamOptions opt_;
    std::vector<Tensor> m_, v_;
};

}  // namespace gs::nn
