#include "nn/optim.h"

#include <map>
#include <sstream>

#include "tensor/error.h"

namespace gs::nn {

Optimizer::Optimizer(NamedVariables params) : params_(std::move(params)) {
    std::map<std::string, bool> seen;
    for (const auto& [n, v] : params_) {
        // A frozen parameter (requires_grad false) is accepted and never updated, as in PyTorch.
        GS_CHECK(v.defined() && (!v.requires_grad() || v.is_leaf()), "Optimizer: parameter '", n,
                 "' must be a defined leaf");
        GS_CHECK(v.value().is_contiguous(), "Optimizer: parameter '", n, "' must be contiguous");
        GS_CHECK(seen.emplace(n, true).second, "Optimizer: duplicate parameter name '", n, "'");
    }
}

void Optimizer::zero_grad() {
    for (auto& [n, v] : params_) v.zero_grad();
}

std::vector<std::pair<std::string, double>> Optimizer::state_scalars() const {
    return {{"step", double(steps_)}, {"lr", lr()}};
}

void Optimizer::load_state(const NamedTensors& tensors, const std::vector<std::pair<std::string, double>>& scalars) {
    const NamedTensors mine = state_tensors();
    std::map<std::string, const Tensor*> given;
    for (const auto& [n, t] : tensors) given[n] = &t;
    std::ostringstream problems;
    for (const auto& [n, t] : mine) {
        auto it = given.find(n);
        if (it == given.end()) {
            problems << " missing " << n << ";";
            continue;
        }
        if (!it->second->defined() || it->second->shape() != t.shape() || it->second->dtype() != t.dtype())
            problems << " mismatched " << n << " (expected " << t.describe() << ");";
        given.erase(it);
    }
    for (const auto& [n, t] : given) problems << " unexpected " << n << ";";
    double step = -1, lr_value = -1;
    for (const auto& [n, x] : scalars) {
        if (n == "step") step = x;
        else if (n == "lr") lr_value = x;
        else problems << " unexpected scalar " << n << ";";
    }
    if (step < 0) problems << " missing scalar step;";
    if (lr_value < 0) problems << " missing scalar lr;";
    GS_CHECK(problems.str().empty(), "Optimizer::load_state:", problems.str());
    for (const auto& [n, t] : tensors) {
        for (const auto& [m, dst] : mine)
            if (m == n) Tensor(dst).copy_(t.to(dst.device()));  // files load on the CPU; state may live on a GPU
    }
    steps_ = std::int64_t(step);
    set_lr(lr_value);
}

// ---- SGD ----------------------------------------------------------------------------------------

SGD::SGD(NamedVariables params, SgdOptions o) : Optimizer(std::move(params)), opt_(o) {
    GS_CHECK(o.lr >= 0 && o.momentum >= 0 && o.weight_decay >= 0, "SGD: lr=", o.lr, " momentum=", o.momentum,
             " weight_decay=", o.weight_decay, " must be >= 0");
    GS_CHECK(!o.nesterov || o.momentum > 0, "SGD: nesterov needs momentum > 0");
    if (o.momentum != 0)
        for (const auto& [n, v] : params_) velocity_.push_back(Tensor::zeros_like(v.value()));
}

void SGD::step() {
    const kernels::SgdStep f{opt_.lr, opt_.momentum, opt_.weight_decay, opt_.nesterov};
    autograd::NoGradGuard no_grad;
    for (std::size_t i = 0; i < params_.size(); ++i) {
        const autograd::Variable& p = params_[i].second;
        if (!p.grad().defined()) continue;
        Tensor w = p.value();
        Tensor v = velocity_.empty() ? Tensor() : velocity_[i];
        kernels::sgd_step_(w, p.grad(), v, f);
    }
    ++steps_;
}

NamedTensors SGD::state_tensors() const {
    NamedTensors out;
    for (std::size_t i = 0; i < velocity_.size(); ++i)
        out.emplace_back(params_[i].first + ".momentum_buffer", velocity_[i]);
    return out;
}

// ---- Adam ---------------------------------------------------------------------------------------

Adam::Adam(NamedVariables params, AdamOptions o) : Optimizer(std::move(params)), opt_(o) {
    GS_CHECK(o.lr >= 0 && o.eps >= 0 && o.weight_decay >= 0 && o.beta1 >= 0 && o.beta1 < 1 && o.beta2 >= 0 &&
                 o.beta2 < 1,
             "Adam: invalid options lr=", o.lr, " betas=(", o.beta1, ", ", o.beta2, ") eps=", o.eps,
             " weight_decay=", o.weight_decay);
    for (const auto& [n, v] : params_) {
        m_.push_back(Tensor::zeros_like(v.value()));
        v_.push_back(Tensor::zeros_like(v.value()));
    }
}

void Adam::step() {
    // PyTorch counts steps per parameter; every parameter here is stepped together, so one count
    // serves (a parameter without a gradient this step is skipped but the count still advances).
    ++steps_;
    const kernels::AdamStep f =
        kernels::AdamStep{opt_.lr, opt_.beta1, opt_.beta2, opt_.eps, opt_.weight_decay}.for_step(steps_);
    autograd::NoGradGuard no_grad;
    for (std::size_t i = 0; i < params_.size(); ++i) {
        const autograd::Variable& p = params_[i].second;
        if (!p.grad().defined()) continue;
        Tensor w = p.value();
        kernels::adam_step_(w, p.grad(), m_[i], v_[i], f);
    }
}

NamedTensors Adam::state_tensors() const {
    NamedTensors out;
    for (std::size_t i = 0; i < params_.size(); ++i) {
        out.emplace_back(params_[i].first + ".exp_avg", m_[i]);
        out.emplace_back(params_[i].first + ".exp_avg_sq", v_[i]);
    }
    return out;
}

}  // namespace gs::nn
