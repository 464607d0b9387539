#include "nn/module.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "tensor/error.h"

namespace gs::nn {

autograd::Variable Module::forward(const autograd::Variable&) {
    GS_FAIL(type_name(), ": forward is not defined for this module");
}

void Module::check_new_name(const std::string& name) const {
    GS_CHECK(!name.empty() && name.find('.') == std::string::npos, type_name(),
             ": invalid name '", name, "' (must be non-empty and contain no '.')");
    auto taken = [&](const auto& v) {
        return std::any_of(v.begin(), v.end(), [&](const auto& p) { return p.first == name; });
    };
    GS_CHECK(!taken(params_) && !taken(buffers_) && !taken(children_), type_name(), ": name '", name,
             "' is already registered");
}

autograd::Variable Module::register_parameter(const std::string& name, Tensor value, bool requires_grad) {
    check_new_name(name);
    GS_CHECK(value.defined(), type_name(), ": parameter '", name, "' is undefined");
    params_.emplace_back(name, autograd::Variable(std::move(value), requires_grad));
    return params_.back().second;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
    check_new_name(name);
    GS_CHECK(value.defined(), type_name(), ": buffer '", name, "' is undefined");
    buffers_.emplace_back(name, std::move(value));
    return buffers_.back().second;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
    check_new_name(name);
    GS_CHECK(child != nullptr, type_name(), ": child '", name, "' is null");
    GS_CHECK(child.get() != this, type_name(), ": a module cannot contain itself");
    child->train(training_);
    children_.emplace_back(name, std::move(child));
}

const autograd::Variable& Module::parameter(const std::string& name) const {
    for (const auto& [n, v] : params_)
        if (n == name) return v;
    GS_FAIL(type_name(), ": no parameter named '", name, "'");
}

bool Module::has_parameter(const std::string& name) const {
    return std::any_of(params_.begin(), params_.end(), [&](const auto& p) { return p.first == name; });
}

const Tensor& Module::buffer(const std::string& name) const {
    for (const auto& [n, t] : buffers_)
        if (n == name) return t;
    GS_FAIL(type_name(), ": no buffer named '", name, "'");
}

void Module::set_parameter(const std::string& name, autograd::Variable value) {
    for (auto& [n, v] : params_) {
        if (n != name) continue;
        GS_CHECK(value.defined() && value.shape() == v.shape() && value.dtype() == v.dtype(), type_name(),
                 ": set_parameter '", name, "' expects ", v.value().describe(), ", got ",
                 value.defined() ? value.value().describe() : std::string("an undefined Variable"));
        v = std::move(value);
        return;
    }
    GS_FAIL(type_name(), ": no parameter named '", name, "'");
}

void Module::collect(const std::string& prefix, NamedVariables* params, NamedTensors* buffers,
                     NamedTensors* state) const {
    for (const auto& [n, v] : params_) {
        if (params) params->emplace_back(prefix + n, v);
        if (state) state->emplace_back(prefix + n, v.value());
    }
    for (const auto& [n, t] : buffers_) {
        if (buffers) buffers->emplace_back(prefix + n, t);
        if (state) state->emplace_back(prefix + n, t);
    }
    for (const auto& [n, c] : children_) c->collect(prefix + n + ".", params, buffers, state);
}

NamedVariables Module::named_parameters() const {
    NamedVariables out;
    collect("", &out, nullptr, nullptr);
    return out;
}

NamedTensors Module::named_buffers() const {
    NamedTensors out;
    collect("", nullptr, &out, nullptr);
    return out;
}

std::vector<autograd::Variable> Module::parameters() const {
    std::vector<autograd::Variable> out;
    for (auto& [n, v] : named_parameters()) out.push_back(v);
    return out;
}

std::int64_t Module::num_parameters() const {
    std::int64_t n = 0;
    for (const auto& v : parameters()) n += v.numel();
    return n;
}

void Module::train(bool on) {
    training_ = on;
    for (auto& [n, c] : children_) c->train(on);
}

void Module::to(DType dtype) {
    GS_CHECK(dtype == DType::f32 || dtype == DType::f64, type_name(), "::to: only floating dtypes, got ",
             dtype_name(dtype));
    for (auto& [n, v] : params_)
        if (v.dtype() != dtype && (v.dtype() == DType::f32 || v.dtype() == DType::f64))
            v = autograd::Variable(v.value().to(dtype), v.requires_grad());
    for (auto& [n, t] : buffers_)
        if (t.dtype() != dtype && (t.dtype() == DType::f32 || t.dtype() == DType::f64)) t = t.to(dtype);
    for (auto& [n, c] : children_) c->to(dtype);
}

void Module::to(Device device) {
    for (auto& [n, v] : params_)
        if (v.device() != device) v = autograd::Variable(v.value().to(device), v.requires_grad());
    for (auto& [n, t] : buffers_)
        if (t.device() != device) t = t.to(device);
    for (auto& [n, c] : children_) c->to(device);
}

void Module::zero_grad() {
    for (auto& v : parameters()) v.zero_grad();
}

NamedTensors Module::state_dict() const {
    NamedTensors out;
    collect("", nullptr, nullptr, &out);
    return out;
}

void Module::load_state_dict(const NamedTensors& state, bool strict) {
    const NamedTensors mine = state_dict();
    std::map<std::string, const Tensor*> given;
    std::vector<std::string> duplicate;
    for (const auto& [n, t] : state)
        if (!given.emplace(n, &t).second) duplicate.push_back(n);

    std::vector<std::string> missing, unexpected, mismatched;
    std::map<std::string, bool> known;
    for (const auto& [n, t] : mine) {
        known[n] = true;
        auto it = given.find(n);
        if (it == given.end()) {
            missing.push_back(n);
            continue;
        }
        const Tensor& src = *it->second;
        if (!src.defined() || src.shape() != t.shape() || src.dtype() != t.dtype())
            mismatched.push_back(n + " (expected " + t.describe() + ", got " +
                                 (src.defined() ? src.describe() : std::string("undefined")) + ")");
    }
    for (const auto& [n, t] : state)
        if (!known.count(n)) unexpected.push_back(n);

    auto join = [](const std::vector<std::string>& v) {
        std::ostringstream os;
        for (std::size_t i = 0; i < v.size(); ++i) os << (i ? ", " : "") << v[i];
        return os.str();
    };
    std::string problems;
    if (!duplicate.empty()) problems += " duplicate keys: " + join(duplicate) + ";";
    if (!mismatched.empty()) problems += " mismatched: " + join(mismatched) + ";";
    if (strict && !missing.empty()) problems += " missing keys: " + join(missing) + ";";
    if (strict && !unexpected.empty()) problems += " unexpected keys: " + join(unexpected) + ";";
    GS_CHECK(problems.empty(), type_name(), "::load_state_dict:", problems);

    autograd::NoGradGuard no_grad;
    for (const auto& [n, t] : mine) {
        auto it = given.find(n);
        if (it == given.end()) continue;
        Tensor dst = t;  // a handle sharing the live storage
        dst.copy_(it->second->to(dst.device()));  // a state read from a file is on the CPU; the model may not be
    }
}

}  // namespace gs::nn
