// Variable, Node teardown and grad mode.
#include "autograd/variable.h"

#include "autograd/engine.h"

namespace gs::autograd {

Node::~Node() {
    // Take over the inputs that would die with this node and unlink their own inputs before they
    // go, so destroying a long chain is a loop rather than a recursion.
    std::vector<std::shared_ptr<Node>> stack = std::move(inputs);
    while (!stack.empty()) {
        std::shared_ptr<Node> n = std::move(stack.back());
        stack.pop_back();
        if (n && n.use_count() == 1) {
            for (auto& in : n->inputs) stack.push_back(std::move(in));
            n->inputs.clear();
            n->backward = nullptr;  // closures may hold Variables, and so nodes, too
        }
    }
}

Variable::Variable(Tensor value, bool requires_grad) : impl_(std::make_shared<VariableImpl>()) {
    GS_CHECK(value.defined(), "Variable: the value tensor is undefined");
    impl_->value = std::move(value);
    set_requires_grad(requires_grad);
}

const Tensor& Variable::value() const {
    GS_CHECK(impl_, "Variable::value: the variable is undefined");
    return impl_->value;
}

const Tensor& Variable::grad() const {
    GS_CHECK(impl_, "Variable::grad: the variable is undefined");
    return impl_->grad;
}

const std::shared_ptr<Node>& Variable::node() const {
    GS_CHECK(impl_, "Variable::node: the variable is undefined");
    return impl_->node;
}

bool Variable::is_leaf() const { return !impl_ || !impl_->node || impl_->node->is_leaf; }

Variable& Variable::set_requires_grad(bool requires_grad) {
    GS_CHECK(impl_, "Variable::set_requires_grad: the variable is undefined");
    GS_CHECK(is_leaf(), "Variable::set_requires_grad: only leaves can change requires_grad; this variable is the "
             "result of '", impl_->node->name, "' (use detach())");
    if (requires_grad && !impl_->node) {
        GS_CHECK(is_floating(impl_->value.dtype()), "Variable::set_requires_grad: only f32/f64 tensors can require "
                 "gradients, this one is ", impl_->value.describe());
        auto node = std::make_shared<Node>();
        node->name = "leaf";
        node->is_leaf = true;
        node->leaf = impl_;
        node->shape = impl_->value.shape();
        node->dtype = impl_->value.dtype();
        impl_->node = std::move(node);
    } else if (!requires_grad) {
        impl_->node.reset();
    }
    return *this;
}

void Variable::zero_grad() {
    GS_CHECK(impl_, "Variable::zero_grad: the variable is undefined");
    impl_->grad = Tensor();
}

void Variable::set_grad(Tensor grad) {
    GS_CHECK(impl_, "Variable::set_grad: the variable is undefined");
    const Tensor& v = impl_->value;
    GS_CHECK(!grad.defined() || (grad.shape() == v.shape() && grad.dtype() == v.dtype() && grad.device() == v.device()),
             "Variable::set_grad: gradient ", grad.describe(), " for a value ", v.describe());
    // A private copy: later backward passes add into it in place.
    impl_->grad = grad.defined() ? grad.clone() : Tensor();
}

void Variable::backward(const Tensor& seed, bool retain_graph) const {
    autograd::backward({*this}, {seed}, retain_graph);
}

void Variable::register_hook(Node::Hook hook) const {
    GS_CHECK(requires_grad(), "Variable::register_hook: the variable does not require grad");
    impl_->node->hooks.push_back(std::move(hook));
}

namespace {
thread_local bool g_grad_enabled = true;
}

bool grad_enabled() { return g_grad_enabled; }
NoGradGuard::NoGradGuard() : previous_(g_grad_enabled) { g_grad_enabled = false; }
NoGradGuard::~NoGradGuard() { g_grad_enabled = previous_; }

}  // namespace gs::autograd
