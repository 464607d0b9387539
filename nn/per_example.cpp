// The per-example collector: recording during forward/backward, and the per-layer dispatch to
// kernels/per_example.h for the queries.
#include "nn/per_example.h"

#include <algorithm>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "nn/layers.h"
#include "tensor/dtype.h"
#include "tensor/error.h"

namespace gs::nn {
namespace {

using autograd::Variable;
using i64 = std::int64_t;
using Layer = PerExampleCollector::Layer;
using Record = PerExampleCollector::Record;
using Param = PerExampleCollector::Param;

thread_local PerExampleCollector* g_active = nullptr;

const char* kCovered = "covered: Linear, Conv2d, BatchNorm1d/2d in eval mode";

std::string layer_label(const std::string& prefix) {
    return prefix.empty() ? std::string("(root)") : prefix.substr(0, prefix.size() - 1);
}

bool is_covered(Module* m) {
    return dynamic_cast<Linear*>(m) || dynamic_cast<Conv2d*>(m) || dynamic_cast<BatchNorm*>(m);
}

// Which of a layer's two parameters a query selects.
struct Sel {
    bool weight = false, bias = false;
};

Tensor output_grad(const Record& r) {
    // No gradient reached the output: the loss does not depend on this call.
    return r.dy->defined() ? r.dy->contiguous() : Tensor::zeros(r.y_shape, r.x.dtype(), r.x.device());
}

// Per-example gradients of one record for examples [begin, begin + n): weight rows (n, numel(w))
// and bias rows (n, numel(b)), undefined where not selected.
std::pair<Tensor, Tensor> record_grads(const Layer& L, const Record& r, Sel s, i64 begin, i64 n) {
    const Tensor x = r.x.narrow(0, begin, n);
    const Tensor dy = output_grad(r).narrow(0, begin, n);
    Tensor gw, gb;
    if (dynamic_cast<Linear*>(L.module)) {
        if (s.weight) gw = kernels::linear_per_example_grad_weight(x, dy);
        if (s.bias) gb = kernels::linear_per_example_grad_bias(dy);
    } else if (auto* conv = dynamic_cast<Conv2d*>(L.module)) {
        if (s.weight)
            gw = kernels::conv2d_per_example_grad_weight(x, dy, L.module->parameter("weight").shape(), conv->geometry());
        if (s.bias) gb = kernels::conv2d_per_example_grad_bias(dy);
    } else if (auto* bn = dynamic_cast<BatchNorm*>(L.module)) {
        if (s.weight)
            gw = kernels::batch_norm_per_example_grad_weight(x, dy, bn->buffer("running_mean"), bn->buffer("running_var"),
                                                             bn->options().eps);
        if (s.bias) gb = kernels::batch_norm_per_example_grad_bias(dy);
    }
    if (gw.defined()) gw = gw.reshape({n, -1});
    if (gb.defined()) gb = gb.reshape({n, -1});
    return {gw, gb};
}

// The weight (or bias) gradients of one record for examples [begin, begin + n), written into
// `cols` (n, numel), a column slice of the caller's result.
void write_record_grads(const Layer& L, const Record& r, bool weight, i64 begin, i64 n, Tensor& cols) {
    const Tensor x = r.x.narrow(0, begin, n);
    const Tensor dy = output_grad(r).narrow(0, begin, n);
    if (dynamic_cast<Linear*>(L.module)) {
        weight ? kernels::linear_per_example_grad_weight_into(x, dy, cols)
               : kernels::linear_per_example_grad_bias_into(dy, cols);
    } else if (auto* conv = dynamic_cast<Conv2d*>(L.module)) {
        weight ? kernels::conv2d_per_example_grad_weight_into(x, dy, L.module->parameter("weight").shape(),
                                                              conv->geometry(), cols)
               : kernels::conv2d_per_example_grad_bias_into(dy, cols);
    } else if (auto* bn = dynamic_cast<BatchNorm*>(L.module)) {
        weight ? kernels::batch_norm_per_example_grad_weight_into(x, dy, bn->buffer("running_mean"),
                                                                  bn->buffer("running_var"), bn->options().eps, cols)
               : kernels::batch_norm_per_example_grad_bias_into(dy, cols);
    }
}

// Sum over a layer's records (shared-weight calls).
std::pair<Tensor, Tensor> layer_grads(const Layer& L, Sel s, i64 begin, i64 n) {
    std::pair<Tensor, Tensor> acc;
    for (const Record& r : L.records) {
        auto g = record_grads(L, r, s, begin, n);
        acc.first = acc.first.defined() ? kernels::binary(kernels::BinaryOp::add, acc.first, g.first) : g.first;
        acc.second = acc.second.defined() ? kernels::binary(kernels::BinaryOp::add, acc.second, g.second) : g.second;
    }
    return acc;
}

// (B, selected parameter elements of the layer): weight columns, then bias columns.
Tensor layer_rows(const Layer& L, Sel s, i64 B) {
    auto [gw, gb] = layer_grads(L, s, 0, B);
    if (gw.defined() && gb.defined()) return concat({gw, gb}, 1);
    return gw.defined() ? gw : gb;
}

// A layer is computed by the kernels' own norm/Gram/moment paths when it ran once and is a Linear
// or Conv2d; BatchNorm rows are (B, C) and always cheap to materialize.
enum class Kind { linear, conv, batch_norm };
Kind kind_of(const Layer& L) {
    if (dynamic_cast<Linear*>(L.module)) return Kind::linear;
    if (dynamic_cast<Conv2d*>(L.module)) return Kind::conv;
    return Kind::batch_norm;
}

kernels::PerExampleConfig config_of(const PerExampleOptions& o) { return {o.method, o.budget}; }

}  // namespace

const char* batch_norm_policy_name(BatchNormPolicy p) { return p == BatchNormPolicy::refuse ? "refuse" : "eval_stats"; }

PerExampleCollector::PerExampleCollector(Module& model, PerExampleOptions options)
    : model_(model), opt_(options), live_(std::make_shared<bool>(true)) {
    GS_CHECK(g_active == nullptr, "PerExampleCollector: another collector is already active on this thread");
    GS_CHECK(opt_.budget >= 1, "PerExampleCollector: the scratch budget must be positive, got ", opt_.budget);
    // Walk the module tree: every module with parameters of its own becomes a Layer if covered.
    std::unordered_map<std::string, std::pair<Module*, std::string>> owner_of;  // dotted name -> (module, prefix)
    std::vector<std::pair<Module*, std::string>> stack{{&model, ""}};
    while (!stack.empty()) {
        auto [m, prefix] = stack.back();
        stack.pop_back();
        for (const auto& [name, v] : m->named_parameters())
            if (name.find('.') == std::string::npos) owner_of.emplace(prefix + name, std::make_pair(m, prefix));
        if (is_covered(m) && !by_module_.count(m)) {
            auto L = std::make_unique<Layer>();
            L->module = m;
            L->prefix = prefix;
            by_module_[m] = L.get();
            layers_.push_back(std::move(L));
        }
        if (dynamic_cast<BatchNorm*>(m) && opt_.batch_norm == BatchNormPolicy::eval_stats)
            bn_modes_.emplace_back(m, m->is_training());
        const auto& ch = m->named_children();
        for (auto it = ch.rbegin(); it != ch.rend(); ++it) stack.emplace_back(it->second.get(), prefix + it->first + ".");
    }
    for (const auto& [name, v] : model.named_parameters()) {
        Param p;
        p.name = name;
        p.numel = v.numel();
        const auto it = owner_of.find(name);
        GS_CHECK(it != owner_of.end(), "PerExampleCollector: cannot find the module owning parameter '", name, "'");
        p.owner = it->second.first;
        p.owner_name = layer_label(it->second.second);
        p.local = name.substr(it->second.second.size());
        const auto L = by_module_.find(p.owner);
        p.layer = L == by_module_.end() ? nullptr : L->second;
        params_.push_back(std::move(p));
    }
    // Last, so that a throw above leaves every module's mode as it was.
    for (auto& [m, was_training] : bn_modes_) m->train(false);
    if (!opt_.parameter_grads)
        for (auto& v : model.parameters())
            if (v.requires_grad()) frozen_.push_back(v.set_requires_grad(false));
    g_active = this;
}

PerExampleCollector::~PerExampleCollector() {
    *live_ = false;
    for (auto& [m, was_training] : bn_modes_) m->train(was_training);
    for (auto& v : frozen_) v.set_requires_grad(true);
    g_active = nullptr;
}

void PerExampleCollector::clear() {
    *live_ = false;
    live_ = std::make_shared<bool>(true);
    for (auto& L : layers_) L->records.clear();
}

void PerExampleCollector::record(Module& layer, const Variable& x, const Variable& y) {
    const auto it = by_module_.find(&layer);
    if (it == by_module_.end()) return;  // not part of this collector's model
    Layer& L = *it->second;
    if (dynamic_cast<BatchNorm*>(&layer) && layer.is_training())
        GS_FAIL("PerExampleCollector: ", layer.type_name(), " '", layer_label(L.prefix),
                "' runs in training mode: its batch statistics couple the examples, so per-example gradients are not "
                "defined (policy ", batch_norm_policy_name(opt_.batch_norm),
                opt_.batch_norm == BatchNormPolicy::refuse ? "; put the model in eval mode, or use eval_stats)"
                                                           : "; the layer was switched back to training after the "
                                                             "collector put it in eval mode)");
    Record r;
    r.x = x.value().contiguous();
    r.y_shape = y.shape();
    r.dy = std::make_shared<Tensor>();
    r.hooked = y.requires_grad();
    if (r.hooked) {
        std::shared_ptr<Tensor> slot = r.dy;
        std::shared_ptr<bool> live = live_;
        y.register_hook([slot, live](const Tensor& g) {
            if (*live) *slot = g;
            return Tensor();
        });
    }
    if (!L.records.empty())
        GS_CHECK(L.records.front().x.size(0) == r.x.size(0), "PerExampleCollector: ", layer.type_name(), " '",
                 layer_label(L.prefix), "' ran on batches of ", L.records.front().x.size(0), " and ", r.x.size(0),
                 " examples without clear() in between");
    L.records.push_back(std::move(r));
}

const Tensor& PerExampleCollector::first_record() const {
    for (const auto& L : layers_)
        if (!L->records.empty()) return L->records.front().x;
    GS_FAIL("PerExampleCollector: no layer was recorded (run the forward pass while the collector is active, with "
            "grad mode on)");
}

std::int64_t PerExampleCollector::batch_size() const { return first_record().size(0); }

Device PerExampleCollector::device() const { return first_record().device(); }

std::vector<std::string> PerExampleCollector::resolve(const std::vector<std::string>& names) const {
    std::vector<std::string> out;
    for (const std::string& n : names)
        GS_CHECK(std::any_of(params_.begin(), params_.end(), [&](const Param& p) { return p.name == n; }),
                 "PerExampleCollector: the model has no parameter '", n, "'");
    for (const Param& p : params_)
        if (names.empty() || std::find(names.begin(), names.end(), p.name) != names.end()) out.push_back(p.name);
    return out;
}

std::int64_t PerExampleCollector::num_parameters(const std::vector<std::string>& names) const {
    i64 n = 0;
    for (const std::string& s : resolve(names))
        for (const Param& p : params_)
            if (p.name == s) n += p.numel;
    return n;
}

namespace {

// The selected parameters grouped by layer, with their column offsets, after checking that each
// one has a rule and a record.
struct Plan {
    struct Entry {
        const Param* param;
        i64 offset;
    };
    std::vector<Entry> entries;                         // column order
    // First-appearance order. A module that sits in two places of the model is listed twice by
    // named_parameters(), so its columns appear twice: norms and Gram count each weight and bias
    // as often as its names are selected (count_w, count_b), consistent with gradients().
    struct LayerSel {
        const Layer* layer;
        Sel sel;
        int count_w = 0, count_b = 0;
    };
    std::vector<LayerSel> layers;
    i64 total = 0;
};

Plan make_plan(const std::vector<Param>& params, const std::vector<std::string>& chosen) {
    Plan plan;
    for (const Param& p : params) {
        if (std::find(chosen.begin(), chosen.end(), p.name) == chosen.end()) continue;
        GS_CHECK(p.layer != nullptr, "PerExampleCollector: parameter '", p.name, "' belongs to layer '", p.owner_name,
                 "' of type ", p.owner->type_name(), ", which has no per-example rule (", kCovered,
                 "); leave it out of the parameter list or add a rule for it");
        GS_CHECK(!p.layer->records.empty(), "PerExampleCollector: ", p.owner->type_name(), " '", p.owner_name,
                 "' (parameter '", p.name, "') did not run while the collector was active");
        for (const Record& r : p.layer->records)
            GS_CHECK(r.hooked, "PerExampleCollector: the output of ", p.owner->type_name(), " '", p.owner_name,
                     "' did not require grad, so backward cannot deliver its gradient");
        GS_CHECK(p.local == "weight" || p.local == "bias", "PerExampleCollector: unexpected parameter '", p.name, "'");
        plan.entries.push_back({&p, plan.total});
        plan.total += p.numel;
        auto it = std::find_if(plan.layers.begin(), plan.layers.end(), [&](const auto& e) { return e.layer == p.layer; });
        if (it == plan.layers.end()) {
            plan.layers.push_back({p.layer, Sel{}});
            it = plan.layers.end() - 1;
        }
        if (p.local == "weight") it->sel.weight = true, ++it->count_w;
        else it->sel.bias = true, ++it->count_b;
    }
    return plan;
}

// The dtype and device of the results: those of the recorded activations (f32 on the CPU for an
// empty plan).
const Tensor& like_of_plan(const Plan& plan) {
    static const Tensor empty_plan = Tensor::empty({0}, DType::f32);
    return plan.layers.empty() ? empty_plan : plan.layers.front().layer->records.front().x;
}

}  // namespace

Tensor PerExampleCollector::gradients(const std::vector<std::string>& names, std::int64_t begin, std::int64_t end) const {
    const i64 B = batch_size();
    if (end < 0) end = B;
    GS_CHECK(0 <= begin && begin <= end && end <= B, "PerExampleCollector::gradients: examples [", begin, ", ", end,
             ") outside a batch of ", B);
    const Plan plan = make_plan(params_, resolve(names));
    const i64 n = end - begin;
    const Tensor& like = like_of_plan(plan);
    Tensor out = Tensor::empty({n, plan.total}, like.dtype(), like.device());
    for (const auto& [L, sel, cw, cb] : plan.layers) {
        if (L->records.size() == 1) {
            // One call: the kernels write straight into the columns of `out` (no copy of B x P).
            for (const auto& e : plan.entries)
                if (e.param->layer == L) {
                    Tensor cols = out.narrow(1, e.offset, e.param->numel);
                    write_record_grads(*L, L->records.front(), e.param->local == "weight", begin, n, cols);
                }
            continue;
        }
        const auto [gw, gb] = layer_grads(*L, sel, begin, n);
        for (const auto& e : plan.entries) {
            if (e.param->layer != L) continue;
            const Tensor& src = e.param->local == "weight" ? gw : gb;
            out.narrow(1, e.offset, e.param->numel).copy_(src);
        }
    }
    return out;
}

namespace {

// Sum over the plan's layers of a per-layer reduction (norms or Gram) computed by `one(layer, sel)`,
// each weight/bias part counted as often as it is selected.
template <class One>
Tensor sum_over_layers(const Plan& plan, One one) {
    Tensor acc;
    auto add = [&](Tensor part, int count) {
        if (count != 1) part = kernels::affine(part, double(count), 0.0);
        acc = acc.defined() ? kernels::binary(kernels::BinaryOp::add, acc, part) : part;
    };
    for (const auto& e : plan.layers) {
        if (e.count_w == e.count_b || e.count_w == 0 || e.count_b == 0) {
            add(one(*e.layer, e.sel), std::max(e.count_w, e.count_b));
        } else {
            add(one(*e.layer, Sel{true, false}), e.count_w);
            add(one(*e.layer, Sel{false, true}), e.count_b);
        }
    }
    return acc;
}

}  // namespace

namespace {

// One per-example statistic (squared norms or Gram) as its three kernels: the Linear and Conv2d
// shortcuts that never form per-example gradients, and the one over materialized gradient rows
// (BatchNorm, and layers called more than once in the batch).
struct Statistic {
    decltype(&kernels::linear_per_example_gram) linear;
    decltype(&kernels::conv2d_per_example_gram) conv2d;
    decltype(&kernels::per_example_row_gram) rows;
};

// The statistic summed over the planned layers; `empty` is returned when the plan is empty.
Tensor layers_statistic(const Plan& plan, i64 B, const kernels::PerExampleConfig& config, const Statistic& stat,
                        const Tensor& empty) {
    const Tensor acc = sum_over_layers(plan, [&](const Layer& L, Sel sel) {
        const Kind k = kind_of(L);
        if (L.records.size() == 1 && k != Kind::batch_norm) {
            const Record& r = L.records.front();
            return k == Kind::linear ? stat.linear(r.x, output_grad(r), sel.weight, sel.bias, config)
                                     : stat.conv2d(r.x, output_grad(r), L.module->parameter("weight").shape(),
                                                   dynamic_cast<Conv2d*>(L.module)->geometry(), sel.weight, sel.bias,
                                                   config);
        }
        return stat.rows(layer_rows(L, sel, B));
    });
    return acc.defined() ? acc : empty;
}

}  // namespace

Tensor PerExampleCollector::squared_norms(const std::vector<std::string>& names) const {
    const i64 B = batch_size();
    const Statistic stat{kernels::linear_per_example_sq_norms, kernels::conv2d_per_example_sq_norms,
                         kernels::per_example_row_sq_norms};
    return layers_statistic(make_plan(params_, resolve(names)), B, config_of(opt_), stat,
                            Tensor::zeros({B}, DType::f32, device()));
}

Tensor PerExampleCollector::gram(const std::vector<std::string>& names) const {
    const i64 B = batch_size();
    const Statistic stat{kernels::linear_per_example_gram, kernels::conv2d_per_example_gram,
                         kernels::per_example_row_gram};
    return layers_statistic(make_plan(params_, resolve(names)), B, config_of(opt_), stat,
                            Tensor::zeros({B, B}, DType::f32, device()));
}

PerExampleMoments PerExampleCollector::moments(const std::vector<std::string>& names) const {
    const i64 B = batch_size();
    const Plan plan = make_plan(params_, resolve(names));
    const Tensor& like = like_of_plan(plan);
    PerExampleMoments out;
    out.sum = Tensor::empty({plan.total}, like.dtype(), like.device());
    out.sum_sq = Tensor::empty({plan.total}, like.dtype(), like.device());
    out.count = B;
    for (const auto& [L, sel, cw, cb] : plan.layers) {
        Tensor sw, qw, sb, qb;  // flattened sums and sums of squares of weight and bias
        const Kind k = kind_of(*L);
        if (L->records.size() == 1 && k != Kind::batch_norm) {
            const Record& r = L->records.front();
            const kernels::PerExampleMoments m =
                k == Kind::linear
                    ? kernels::linear_per_example_moments(r.x, output_grad(r), sel.weight, sel.bias, config_of(opt_))
                    : kernels::conv2d_per_example_moments(r.x, output_grad(r), L->module->parameter("weight").shape(),
                                                          dynamic_cast<Conv2d*>(L->module)->geometry(), sel.weight,
                                                          sel.bias, config_of(opt_));
            if (sel.weight) sw = m.sum_weight.reshape({-1}), qw = m.sum_sq_weight.reshape({-1});
            if (sel.bias) sb = m.sum_bias.reshape({-1}), qb = m.sum_sq_bias.reshape({-1});
        } else {
            // Materialized rows (B, n): column sums of the rows and of their squares, as (1, B) x (B, n)
            // products so that the sums run in example order inside the GEMM.
            const auto [gw, gb] = layer_grads(*L, sel, 0, B);
            const Tensor ones = Tensor::ones({1, B}, like.dtype(), like.device());
            auto col_sums = [&](const Tensor& rows, Tensor& s, Tensor& q) {
                const Tensor sq = kernels::binary(kernels::BinaryOp::mul, rows, rows);
                s = kernels::matmul(ones, rows).reshape({-1});
                q = kernels::matmul(ones, sq).reshape({-1});
            };
            if (gw.defined()) col_sums(gw, sw, qw);
            if (gb.defined()) col_sums(gb, sb, qb);
        }
        for (const auto& e : plan.entries) {
            if (e.param->layer != L) continue;
            const bool w = e.param->local == "weight";
            out.sum.narrow(0, e.offset, e.param->numel).copy_(w ? sw : sb);
            out.sum_sq.narrow(0, e.offset, e.param->numel).copy_(w ? qw : qb);
        }
    }
    return out;
}

Variable per_example_record(Module& layer, const Variable& x, const Variable& y) {
    if (g_active == nullptr || !autograd::grad_enabled()) return y;
    // A covered layer with nothing to differentiate (parameters frozen by parameter_grads = false,
    // input needing no gradient): the alias is a graph leaf, so backward stops at it.
    const bool alias = y.defined() && !y.requires_grad() && !g_active->options().parameter_grads && g_active->covers(layer);
    const Variable out = alias ? Variable(y.value(), true) : y;
    g_active->record(layer, x, out);
    return out;
}

}  // namespace gs::nn
