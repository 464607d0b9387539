#pragma once
// Module: the base of every layer. A module owns named parameters (autograd Variables that
// optimizers update), named buffers (plain tensors such as BatchNorm's running statistics) and
// named children, and names them the way PyTorch does ("0.weight", "features.3.running_mean"), so
// that state dicts and checkpoints line up with PyTorch's key for key. Modules are plain runtime
// objects: no registry, no macros; children are shared, so one module may sit in two containers.
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "autograd/variable.h"
#include "tensor/tensor.h"

namespace gs::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;
using NamedVariables = std::vector<std::pair<std::string, autograd::Variable>>;

class Module {
public:
    virtual ~Module() = default;
    Module() = default;
    // Copying a module would share its parameters silently: hold modules by shared_ptr instead.
    Module(const Module&) = delete;
    Module& operator=(const Module&) = delete;

    // The layer's computation. The base version throws (containers without a single input, or
    // modules used only as parameter holders).
    virtual autograd::Variable forward(const autograd::Variable& x);
    autograd::Variable operator()(const autograd::Variable& x) { return forward(x); }

    // "Linear", "Conv2d", ...: for error messages and printing.
    virtual std::string type_name() const { return "Module"; }

    // ---- traversal (depth first, registration order: own entries, then each child's) ---------
    NamedVariables named_parameters() const;
    NamedTensors named_buffers() const;
    std::vector<autograd::Variable> parameters() const;
    const std::vector<std::pair<std::string, std::shared_ptr<Module>>>& named_children() const { return children_; }
    // Total element count of all parameters.
    std::int64_t num_parameters() const;

    // ---- this module's own entries by (undotted) name; throw when absent ----------------------
    const autograd::Variable& parameter(const std::string& name) const;
    const Tensor& buffer(const std::string& name) const;
    bool has_parameter(const std::string& name) const;
    // Replaces the handle of an existing parameter (same shape and dtype): used to tie weights and
    // by gradient checks that differentiate a layer with respect to its own weights.
    void set_parameter(const std::string& name, autograd::Variable value);

    // ---- modes ------------------------------------------------------------------------------------
    // Sets training mode on this module and every descendant.
    void train(bool on = true);
    void eval() { train(false); }
    bool is_training() const { return training_; }

    // Converts every floating parameter and buffer of this module and its descendants (integer
    // buffers such as num_batches_tracked keep their dtype; to(Device) moves them too). Parameters
    // become new leaves with the same requires_grad and no gradient, so create optimizers after
    // the conversion. A no-op for entries already there.
    void to(DType dtype);
    void to(Device device);

    // Drops the accumulated gradient of every parameter.
    void zero_grad();

    // ---- state dict -------------------------------------------------------------------------------
    // Parameters, then buffers, each by dotted name (PyTorch's order within a module is
    // registration order; PyTorch lists a module's parameters and buffers interleaved per module
    // and we follow it: for each module depth-first, its parameters then its buffers). The tensors
    // are the live values (shared storage, not copies): clone them to keep a snapshot.
    NamedTensors state_dict() const;
    // Copies each entry into the matching parameter or buffer in place (no gradient recorded).
    // strict: every key of the module must be present and no other key may appear. Throws, before
    // writing anything, naming all missing and unexpected keys and every shape or dtype mismatch.
    void load_state_dict(const NamedTensors& state, bool strict = true);

protected:
    // Registration, for constructors of derived modules. Names must be unique within a module and
    // must not contain '.'. Returns the stored handle.
    autograd::Variable register_parameter(const std::string& name, Tensor value, bool requires_grad = true);
    Tensor register_buffer(const std::string& name, Tensor value);
    template <class M>
    std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
        add_child(name, child);
        return child;
    }
    void add_child(const std::string& name, std::shared_ptr<Module> child);

private:
    void check_new_name(const std::string& name) const;
    void collect(const std::string& prefix, NamedVariables* params, NamedTensors* buffers,
                 NamedTensors* state) const;

    std::vector<std::pair<std::string, autograd::Variable>> params_;
    std::vector<std::pair<std::string, Tensor>> buffers_;
    std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
    bool training_ = true;
};

}  // namespace gs::nn
