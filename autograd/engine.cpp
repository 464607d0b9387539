// The backward engine. This file holds the framework's only gradient accumulation.
#include "autograd/engine.h"

#include <unordered_map>
#include <unordered_set>

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

// dst += src elementwise, both contiguous CPU tensors of one shape and dtype. TODO(#6): CUDA.
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

// Adds g into the gradient slot `slot`, which the engine owns when `owned` is true. The first
// gradient is kept by reference (no copy); a second one forces a private buffer first, since the
// first may be shared with another slot (add's backward returns dy for both inputs).
void accumulate(Tensor& slot, bool& owned, const Tensor& g) {
    if (!slot.defined()) {
        slot = g;
        owned = false;
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

// Runs one backward pass. With `capture` set, gradients reaching those nodes are stored there and
// leaves' .grad are left alone (the functional form); otherwise leaves accumulate into .grad.
void run(const std::vector<Variable>& outputs, const std::vector<Tensor>& seeds, bool retain_graph,
         std::unordered_map<Node*, Tensor>* capture) {
    GS_CHECK(seeds.empty() || seeds.size() == outputs.size(), "backward: ", seeds.size(), " seeds for ", outputs.size(),
             " outputs");
    std::vector<Node*> roots;
    for (std::size_t i = 0; i < outputs.size(); ++i) {
        const Variable& out = outputs[i];
        GS_CHECK(out.defined(), "backward: output ", i, " is undefined");
        GS_CHECK(out.requires_grad(), "backward: output ", i, " does not require grad (no input requires grad, or it "
                 "was computed under NoGradGuard)");
        Node* n = out.node().get();
        GS_CHECK(!n->released, "backward: the graph of '", n->name, "' was already released by an earlier backward; "
                 "pass retain_graph=true to run backward twice");
        bool owned = n->grad_owned;
        accumulate(n->grad, owned, make_seed(out, seeds.empty() ? Tensor() : seeds[i]));
        n->grad_owned = owned;
        roots.push_back(n);
    }

    const std::vector<Node*> order = backward_order(roots);
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
            if (it != capture->end() && g.defined()) {
                bool owned = false;
                accumulate(it->second, owned, g);
            }
        }
        if (n->is_leaf) {
            if (!capture && g.defined()) {
                if (auto impl = n->leaf.lock()) {
                    // Leaf gradients outlive the pass and optimizers write into them: always own them.
                    if (!impl->grad.defined()) impl->grad = g.clone();
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

}  // namespace

void backward(const std::vector<Variable>& outputs, const std::vector<Tensor>& seeds, bool retain_graph) {
    run(outputs, seeds, retain_graph, nullptr);
}

std::vector<Tensor> grad(const std::vector<Variable>& outputs, const std::vector<Variable>& inputs,
                         const std::vector<Tensor>& seeds, bool retain_graph) {
    std::unordered_map<Node*, Tensor> capture;
    for (std::size_t j = 0; j < inputs.size(); ++j) {
        GS_CHECK(inputs[j].defined() && inputs[j].requires_grad(), "grad: input ", j, " does not require grad");
        capture.emplace(inputs[j].node().get(), Tensor());
    }
    run(outputs, seeds, retain_graph, &capture);
    std::vector<Tensor> result;
    for (const Variable& v : inputs) {
        Tensor g = capture.at(v.node().get());
        result.push_back(g.defined() ? g : Tensor::zeros_like(v.value()));
    }
    return result;
}

}  // namespace gs::autograd
