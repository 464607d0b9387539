// make_result: records one Node for a differentiable op.
#include "autograd/function.h"

namespace gs::autograd {

Variable make_result(Tensor value, const std::vector<Variable>& inputs, std::string name, Node::BackwardFn backward) {
    bool any = false;
    for (const Variable& v : inputs) any = any || (v.defined() && v.requires_grad());
    if (!grad_enabled() || !any) return Variable(std::move(value), false);
    auto node = std::make_shared<Node>();
    node->name = std::move(name);
    node->backward = std::move(backward);
    node->shape = value.shape();
    node->dtype = value.dtype();
    node->inputs.reserve(inputs.size());
    for (const Variable& v : inputs) node->inputs.push_back(v.defined() && v.requires_grad() ? v.node() : nullptr);
    Variable out;
    out.impl_ = std::make_shared<VariableImpl>();
    out.impl_->value = std::move(value);
    out.impl_->node = std::move(node);
    return out;
}

}  // namespace gs::autograd
