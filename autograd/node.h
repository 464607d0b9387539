#pragma once
// Node: one recorded operation in the tape (or a leaf), with the closure that differentiates it.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace gs::autograd {

struct VariableImpl;

struct Node {
    // Maps the gradient of this node's output to one gradient per input (undefined where the
    // input needs none). Returned tensors are fresh or views of fresh tensors: the engine may keep
    // them by reference, so a backward must not modify them afterwards.
    using BackwardFn = std::function<std::vector<Tensor>(const Tensor& grad_output)>;
    // Hooks see the summed gradient before it is used and may return a replacement (or an
    // undefined tensor to keep it).
    using Hook = std::function<Tensor(const Tensor& grad)>;

    std::string name;                           // "matmul", "leaf": used in errors
    std::vector<std::shared_ptr<Node>> inputs;  // one per op input; null where no gradient flows
    BackwardFn backward;                        // empty for leaves and after release
    bool is_leaf = false;
    std::weak_ptr<VariableImpl> leaf;           // for leaves: whose .grad receives the gradient
    std::vector<Hook> hooks;
    Shape shape;                                // of the output: every incoming gradient must match
    DType dtype = DType::f32;
    bool released = false;                      // backward ran and the graph was not retained

    // Per-pass state, owned by the engine.
    Tensor grad;
    bool grad_owned = false;  // grad is a buffer the engine allocated, safe to add into

    Node() = default;
    Node(const Node&) = delete;
    Node& operator=(const Node&) = delete;
    // Destroys a chain of inputs iteratively: a 1e5-node graph must not overflow the stack.
    ~Node();

};

}  // namespace gs::autograd
