// The backward engine. This file holds the framework's only gradient accumulation.
#include "autograd/engine.h"

#include <unordered_map>
#include <unordered_set>

#include "kernels/elementwise.h"
#include "tensor/strided.h"

namespace gs::autograd {
namespace {

// Nodes reachable from `roots`, each after all nodes it feeds into (reverse topological order of
// the data flow: outputs first, leaves last). Iterative: a 1e5-node chain must not recurse.
std::vector<Node*> backward_order(const std::vector<Node*>& roots) {
    std::vector<Node*> post;  // post-order: a node after all of its inputs
    std::unordered_set<Node*> visited;
    std::vector<std::pair<Node*, std::size_t>> stack;
    for (Node* r : roots) {
        if (!visited.insert(r).second) continue;
        stack.emplace_back(r, 0);
        while (!stack.empty()) {
            auto& [n, next] = stack.back();
            if (next < n->inputs.size()) {
                Node* in = n->inputs[next++].get();
                if (in && visited.insert(in).second) stack.emplace_back(in, 0);
            } else {
                post.push_back(n);
                stack.pop_back();
            }
        }
    }
    return {post.rbegin(), post.rend()};
}

// dst += src elementwise, both contiguous CPU tensors of one shape and dtype (CUDA gradients are
// summed out of place in accumulate).
void add_into(Tensor& dst, const Tensor& src) {
    GS_CHECK(dst.device().is_cpu() && src.device().is_cpu(), "autograd accumulate: gradients on ", dst.device().str(),
             " are not supported yet (CPU only)");
    visit_float(dst.dtype(), "autograd accumulate", [&](auto tag) {
        using T = decltype(tag);
        T* d = dst.data<T>();
        const T* s = src.data<T>();
        const std::int64_t n = dst.numel();
#pragma omp parallel for if (n >= kParallelGrain) schedule(static)
        for (std::int64_t i = 0; i < n; ++i) d[i] += s[i];
    });
}

// Whether t is contiguous, spans its whole storage and is the only handle on it.
bool sole_whole_tensor(const Tensor& t) {
    return t.is_contiguous() && t.offset() == 0 && t.storage().use_count() == 1 &&
           t.storage()->bytes() == std::size_t(t.numel()) * t.itemsize();
}

// Adds g into the gradient slot `slot`, which the engine owns when `owned` is true. The first
// gradient is kept by reference (no copy); a second one forces a private buffer first, since the
// first may be shared with another slot (add's backward returns dy for both inputs).
void accumulate(Tensor& slot, bool& owned, const Tensor& g) {
    if (!slot.defined()) {
        slot = g;
        owned = false;
        return;
    }
    if (slot.is_cuda()) {
        // On a GPU the sum goes to a new buffer from the caching allocator (no in-place kernel is
        // needed, and the device pool makes the allocation cheap); mixed devices throw by name.
        slot = kernels::binary(kernels::BinaryOp::add, slot, g);
        owned = true;
        return;
    }
    if (!owned || !slot.is_contiguous()) {
        slot = slot.clone();
        owned = true;
    }
    add_into(slot, g.is_contiguous() ? g : g.contiguous());
}

void check_gradient(const Node& producer, std::size_t i, const Node& input, const Tensor& g) {
    GS_CHECK(g.shape() == input.shape && g.dtype() == input.dtype, "autograd: backward of '", producer.name,
             "' returned a gradient ", g.describe(), " for input ", i, ", which is ", shape_str(input.shape), " ",
             dtype_name(input.dtype));
}

Tensor make_seed(const Variable& out, const Tensor& seed) {
    if (seed.defined()) {
        GS_CHECK(seed.shape() == out.shape() && seed.dtype() == out.dtype(), "backward: seed ", seed.describe(),
                 " does not match the output ", out.value().describe());
        return seed;
    }
    GS_CHECK(out.numel() == 1, "backward: an output of shape ", shape_str(out.shape()),
             " needs an explicit seed gradient (only one-element outputs default to 1)");
    return Tensor::ones(out.shape(), out.dtype(), out.device());
}

// A gradient captured for the functional form, and whether the engine allocated it.
struct Captured {
    Tensor grad;
    bool owned = false;
};
using CaptureMap = std::unordered_map<Node*, Captured>;

// Nodes whose backward must run for the functional form: those with an input on a path to a
// captured node. Nothing else is computed or released.
std::unordered_set<Node*> nodes_to_run(const std::vector<Node*>& order, const CaptureMap& capture) {
    std::unordered_set<Node*> reaches;  // nodes that are captured or lead to one
    std::unordered_set<Node*> run;
    for (auto it = order.rbegin(); it != order.rend(); ++it) {  // inputs before their users
        Node* n = *it;
        bool any_input = false;
        for (const auto& in : n->inputs) any_input = any_input || (in && reaches.count(in.get()));
        if (any_input) run.insert(n);
        if (any_input || capture.count(n)) reaches.insert(n);
    }
    return run;
}

// One backward pass over the nodes in `order`. With `capture`, gradients reaching the captured
// nodes are stored there, only the nodes leading to them run, and leaves' .grad are left alone
// (the functional form); otherwise every node runs and leaves accumulate into .grad.
void run_pass(const std::vector<Node*>& order, bool retain_graph, CaptureMap* capture) {
    const std::unordered_set<Node*> to_run = capture ? nodes_to_run(order, *capture) : std::unordered_set<Node*>{};
    for (Node* n : order) {
        Tensor g = std::move(n->grad);
        n->grad = Tensor();
        n->grad_owned = false;
        if (g.defined()) {
            for (auto& hook : n->hooks) {
                Tensor r = hook(g);
                if (r.defined()) {
                    GS_CHECK(r.shape() == g.shape() && r.dtype() == g.dtype(), "autograd: a hook on '", n->name,
                             "' returned ", r.describe(), " for a gradient ", g.describe());
                    g = std::move(r);
                }
            }
        }
        if (capture) {
            auto it = capture->find(n);
            if (it != capture->end() && g.defined()) accumulate(it->second.grad, it->second.owned, g);
            if (!to_run.count(n)) continue;
        }
        if (n->is_leaf) {
            if (!capture && g.defined()) {
                if (auto impl = n->leaf.lock()) {
                    // Leaf gradients outlive the pass and optimizers write into them: always own them.
                    // A g that is its whole storage, which nothing else references (no view, no
                    // hook's copy, no other slot), is already private: keep it instead of a copy.
                    if (!impl->grad.defined()) impl->grad = sole_whole_tensor(g) ? std::move(g) : g.clone();
                    else {
                        bool owned = impl->grad.is_contiguous();
                        accumulate(impl->grad, owned, g);
                    }
                }
            }
            continue;
        }
        GS_CHECK(!n->released, "backward: the graph through '", n->name, "' was already released by an earlier "
                 "backward; pass retain_graph=true to run backward twice");
        if (g.defined()) {
            std::vector<Tensor> grads = n->backward(g);
            GS_CHECK(grads.size() == n->inputs.size(), "autograd: backward of '", n->name, "' returned ", grads.size(),
                     " gradients for ", n->inputs.size(), " inputs");
            for (std::size_t i = 0; i < grads.size(); ++i) {
                Node* in = n->inputs[i].get();
                if (!in || !grads[i].defined()) continue;
                check_gradient(*n, i, *in, grads[i]);
                bool owned = in->grad_owned;
                accumulate(in->grad, owned, grads[i]);
                in->grad_owned = owned;
            }
        }
        if (!retain_graph) {
            n->backward = nullptr;  // frees the saved tensors
            n->released = true;
        }
    }
}

void run(const std::vector<Variable>& outputs, const std::vector<Tensor>& seeds, bool retain_graph,
         CaptureMap* capture) {
    GS_CHECK(seeds.empty() || seeds.size() == outputs.size(), "backward: ", seeds.size(), " seeds for ", outputs.size(),
             " outputs");
    // Validate everything before any node is touched, so a bad call leaves the graph as it was.
    std::vector<Node*> roots;
    std::vector<Tensor> root_seeds;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        const Variable& out = outputs[i];
        GS_CHECK(out.defined(), "backward: output ", i, " is undefined");
        GS_CHECK(out.requires_grad(), "backward: output ", i, " does not require grad (no input requires grad, or it "
                 "was computed under NoGradGuard)");
        Node* n = out.node().get();
        GS_CHECK(!n->released, "backward: the graph of '", n->name, "' was already released by an earlier backward; "
                 "pass retain_graph=true to run backward twice");
        root_seeds.push_back(make_seed(out, seeds.empty() ? Tensor() : seeds[i]));
        roots.push_back(n);
    }
    const std::vector<Node*> order = backward_order(roots);
    try {
        for (std::size_t i = 0; i < roots.size(); ++i) {
            bool owned = roots[i]->grad_owned;
            accumulate(roots[i]->grad, owned, root_seeds[i]);
            roots[i]->grad_owned = owned;
        }
        run_pass(order, retain_graph, capture);
    } catch (...) {
        // A throwing hook or backward must not leave partial sums behind for the next pass.
        for (Node* n : order) {
            n->grad = Tensor();
            n->grad_owned = false;
        }
        throw;
    }
}

}  // namespace

void backward(const std::vector<Variable>& outputs, const std::vector<Tensor>& seeds, bool retain_graph) {
    run(outputs, seeds, retain_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Variable>& outputs, const std::vector<Variable>& inputs,
                         const std::vector<Tensor>& seeds, bool retain_graph) {
    CaptureMap capture;
    for (std::size_t j = 0; j < inputs.size(); ++j) {
        GS_CHECK(inputs[j].defined() && inputs[j].requires_grad(), "grad: input ", j, " does not require grad");
        capture.emplace(inputs[j].node().get(), Captured{});
    }
    run(outputs, seeds, retain_graph, &capture);
    std::vector<Tensor> result;
    std::unordered_set<Node*> handed_out;
    for (const Variable& v : inputs) {
        const Captured& c = capture.at(v.node().get());
        const bool first = handed_out.insert(v.node().get()).second;
        // A gradient the engine did not allocate may be the caller's seed or another result (add's
        // backward returns dy twice), and an input listed twice gets two copies: results never alias.
        result.push_back(!c.grad.defined() ? Tensor::zeros_like(v.value())
                         : c.owned && first ? c.grad
                                            : c.grad.clone());
    }
    return result;
}

}  // namespace gs::autograd
