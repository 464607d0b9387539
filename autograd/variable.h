#pragma once
// Variable: a tensor that may take part in differentiation, and the grad-mode switch.
#include <cstdint>
#include <functional>
#include <memory>

#include "autograd/node.h"
#include "tensor/tensor.h"

namespace gs::autograd {

struct VariableImpl {
    Tensor value;
    Tensor grad;                   // accumulated across backward calls until zero_grad()
    std::shared_ptr<Node> node;    // the op that produced this value, or this leaf's node
};

class Variable {
public:
    // An undefined Variable.
    Variable() = default;
    // A leaf holding `value`. A leaf with requires_grad receives gradients in grad().
    explicit Variable(Tensor value, bool requires_grad = false);

    bool defined() const { return impl_ != nullptr; }
    const Tensor& value() const;
    // The accumulated gradient (undefined until a backward reaches this leaf).
    const Tensor& grad() const;
    bool requires_grad() const { return impl_ && impl_->node != nullptr; }
    bool is_leaf() const;
    // Only leaves can change this; a result's requirement follows from its inputs.
    Variable& set_requires_grad(bool requires_grad);
    void zero_grad();  // drops the gradient (the next backward assigns a fresh one)
    // Replaces the accumulated gradient with a copy of `grad` (same shape, dtype and device).
    void set_grad(Tensor grad);

    // Runs the engine from this variable. `seed` is dL/d(this); omitted, this must hold one
    // element and the seed is 1. The graph is released unless retain_graph.
    void backward(const Tensor& seed = {}, bool retain_graph = false) const;

    // A leaf sharing this value, cut from the graph.
    Variable detach() const { return Variable(value(), false); }
    // Calls hook with this variable's gradient during backward, before it flows further (or into
    // grad()); a defined return value replaces the gradient. Throws unless requires_grad.
    void register_hook(Node::Hook hook) const;

    const std::shared_ptr<Node>& node() const;
    const std::shared_ptr<VariableImpl>& impl() const { return impl_; }

    // Shorthands for value().
    const Shape& shape() const { return value().shape(); }
    std::int64_t dim() const { return value().dim(); }
    std::int64_t size(std::int64_t d) const { return value().size(d); }
    std::int64_t numel() const { return value().numel(); }
    DType dtype() const { return value().dtype(); }
    Device device() const { return value().device(); }
    template <class T = double> T item() const { return value().item<T>(); }

private:
    friend Variable make_result(Tensor, const std::vector<Variable>&, std::string, Node::BackwardFn);
    std::shared_ptr<VariableImpl> impl_;
};

// Grad mode: while false (inside a NoGradGuard), ops record nothing.
bool grad_enabled();

// Turns recording off for its scope, on this thread.
class NoGradGuard {
public:
    NoGradGuard();
    ~NoGradGuard();
    NoGradGuard(const NoGradGuard&) = delete;
    NoGradGuard& operator=(const NoGradGuard&) = delete;

private:
    bool previous_;
};

}  // namespace gs::autograd
