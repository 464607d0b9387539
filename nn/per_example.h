#pragma once
// Per-example mode: per-example gradients, their squared norms, their Gram matrix and their
// batch moments, all from ONE ordinary backward pass.
//
// Usage (B examples in one batch):
//     nn::PerExampleCollector pe(model);                  // active on this thread until destroyed
//     Variable losses = autograd::cross_entropy(model(Variable(x)), y);   // (B) per-example losses
//     autograd::sum(losses).backward();                  // the SUM, not the mean
//     Tensor norms = pe.squared_norms();                  // (B)
//     Tensor gram  = pe.gram();                           // (B, B)
//     Tensor g     = pe.gradients({}, 0, 16);             // (16, P): examples 0..15
//     pe.clear();                                         // before the next batch
//
// Convention: example i's gradient is the gradient of ITS OWN loss, which is what backpropagating
// the sum of per-example losses delivers to each layer's output-gradient row i (backpropagating
// the mean would scale everything by 1/B). The ordinary parameter .grad accumulation still happens
// in that backward pass (the parameters get the summed gradient, as without a collector); call
// model.zero_grad() as usual.
//
// How: while a collector is active on a thread, every covered layer of its model (nn::Linear,
// nn::Conv2d, nn::BatchNorm1d/2d) records its input and registers a hook on its output that keeps
// the output's gradient during backward (layers.cpp calls per_example_record). The quantities are
// then computed from (input, output gradient) by kernels/per_example.h, per layer, with the method
// (materialize vs patches) picked per layer by a flop estimate unless forced by the options.
//
// Parameters: every query takes a list of parameter names (dotted, as named_parameters() gives
// them); empty means all parameters. Results use named_parameters() order, whatever the order of
// the list, and each parameter is flattened row-major (the layout of its .grad). A requested
// parameter of a layer without a per-example rule (anything but the covered layers) throws,
// naming the layer and its type: parameters are never skipped silently. A covered layer whose
// forward was not recorded while the collector was active also throws; a recorded layer whose
// output received no gradient (it did not reach the loss) has per-example gradients of zero.
//
// Memory: the collector keeps each covered layer's input (as autograd does until backward) and
// its output gradient until clear() or destruction; queries allocate only their result plus the
// kernels' scratch (PerExampleOptions::budget elements per layer at a time).
//
// A layer that runs several times in one forward (shared weights) gets the sum of its calls'
// contributions; its norms, Gram and moments are then computed by materializing its per-example
// gradients (B x its parameter count). Run one batch per collector pass: records of two forward
// passes would be treated as shared-weight calls, so call clear() between batches.
//
// BatchNorm: in training mode it normalizes with batch statistics, which couples the examples
// (example i's output depends on every example), so per-example gradients are not defined by one
// backward pass. BatchNormPolicy says what happens:
//   eval_stats (default): the constructor switches every BatchNorm of the model to eval mode and
//       the destructor restores each one's previous mode. Forward passes in the collector's
//       lifetime therefore normalize with the running statistics and do not update them, and the
//       per-example gradients are exact gradients of that eval-mode network. A BatchNorm found in
//       training mode when it runs (switched back by the caller) throws.
//   refuse: nothing is switched; a BatchNorm that runs in training mode throws, naming the layer.
//       BatchNorms already in eval mode are covered as usual.
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "autograd/variable.h"
#include "kernels/per_example.h"
#include "nn/module.h"

namespace gs::nn {

enum class BatchNormPolicy { eval_stats, refuse };
// "eval_stats" / "refuse": for run metadata.
const char* batch_norm_policy_name(BatchNormPolicy p);

struct PerExampleOptions {
    BatchNormPolicy batch_norm = BatchNormPolicy::eval_stats;
    // Norms and Gram: automatic picks per layer by kernels::per_example_cost.
    kernels::PerExampleMethod method = kernels::PerExampleMethod::automatic;
    // Elements of scratch one layer's kernel may hold at once (see kernels/per_example.h).
    std::int64_t budget = kernels::kPerExampleDefaultBudget;
    // false: backward passes during the collector's lifetime compute only what the per-example
    // queries need. The model's parameters are frozen (requires_grad false) until the destructor
    // restores them, so no summed weight gradient is formed and every .grad is left untouched. A
    // covered layer whose input needs no gradient (the first layer) then hands on a gradient-
    // requiring leaf alias of its output, so that its output gradient still reaches the collector
    // and its own backward (an input gradient nobody reads) never runs.
    bool parameter_grads = true;
};

// Sums over the examples of the per-example gradients and of their elementwise squares, both
// (P) in the column order of gradients(). Mean = sum / count; variance = sum_sq / count - mean^2;
// the empirical Fisher diagonal is sum_sq / count and its trace the sum of that.
struct PerExampleMoments {
    Tensor sum;
    Tensor sum_sq;
    std::int64_t count = 0;
};

class PerExampleCollector {
public:
    // Activates on this thread (one active collector per thread; a second one throws).
    explicit PerExampleCollector(Module& model, PerExampleOptions options = {});
    ~PerExampleCollector();
    PerExampleCollector(const PerExampleCollector&) = delete;
    PerExampleCollector& operator=(const PerExampleCollector&) = delete;

    const PerExampleOptions& options() const { return opt_; }
    // B of the recorded forward pass (throws when nothing was recorded).
    std::int64_t batch_size() const;
    // The device of the recorded activations, where every result is computed and returned (CUDA
    // tensors run the composite kernels of kernels/per_example.h).
    Device device() const;
    // The names a query with `names` covers, in named_parameters() order. Throws on unknown names.
    std::vector<std::string> resolve(const std::vector<std::string>& names = {}) const;
    // Total elements of those parameters (P).
    std::int64_t num_parameters(const std::vector<std::string>& names = {}) const;

    // (end - begin, P): per-example gradients of examples [begin, end) (end = -1: B). Chunks of
    // examples bound the memory: B x P is never formed unless asked for.
    Tensor gradients(const std::vector<std::string>& names = {}, std::int64_t begin = 0, std::int64_t end = -1) const;
    // (B): squared norms ||g_i||^2 over the chosen parameters, without forming B x P.
    Tensor squared_norms(const std::vector<std::string>& names = {}) const;
    // (B, B): <g_i, g_j> over the chosen parameters, per layer by patches or materialized chunks.
    Tensor gram(const std::vector<std::string>& names = {}) const;
    PerExampleMoments moments(const std::vector<std::string>& names = {}) const;

    // Drops every record (for the next batch). Hooks of a graph not yet run become no-ops.
    void clear();

    // Called through per_example_record by the covered layers' forward: records x and hooks y.
    void record(Module& layer, const autograd::Variable& x, const autograd::Variable& y);
    // Whether `layer` is a covered layer of this collector's model.
    bool covers(const Module& layer) const { return by_module_.count(&layer) != 0; }

    // Per-layer state (public for the implementation file's helpers only).
    struct Record {
        Tensor x;                          // the layer's input value (contiguous)
        Shape y_shape;                     // the layer's output shape
        std::shared_ptr<Tensor> dy;        // filled by the output hook during backward
        bool hooked = false;               // false when the output did not require grad
        std::shared_ptr<bool> live;        // false after clear(): the hook stops writing
    };
    struct Layer {
        Module* module = nullptr;
        std::string prefix;                // "features.3." (empty for the root)
        std::vector<Record> records;
    };
    struct Param {
        std::string name;                  // dotted
        std::string local;                 // "weight" / "bias"
        Layer* layer = nullptr;            // null for a parameter we have no rule for
        Module* owner = nullptr;
        std::string owner_name;            // for errors: "features.3" or "(root)"
        std::int64_t numel = 0;
    };

private:
    const Tensor& first_record() const;  // the first recorded activation (throws when none)

    Module& model_;
    PerExampleOptions opt_;
    std::vector<std::unique_ptr<Layer>> layers_;
    std::unordered_map<const Module*, Layer*> by_module_;
    std::vector<Param> params_;
    std::vector<std::pair<Module*, bool>> bn_modes_;  // BatchNorms switched by eval_stats
    std::vector<autograd::Variable> frozen_;          // parameters frozen by parameter_grads = false
    std::shared_ptr<bool> live_;
};

// The recording hook the covered layers call at the end of forward, returning what the layer
// returns: y itself, unless a collector is active on this thread, grad mode is on and `layer`
// belongs to the collector's model. Then the layer's input x and the gradient that reaches its
// output are recorded; and when the collector has parameter_grads = false and y needs no gradient
// (nothing before the layer does and its parameters are frozen), a leaf alias of y that does is
// returned, so the gradient reaches the collector without running the layer's backward.
autograd::Variable per_example_record(Module& layer, const autograd::Variable& x, const autograd::Variable& y);

}  // namespace gs::nn
