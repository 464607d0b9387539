#pragma once
// gs-stiffness's experiment as a library (experiments/gs_stiffness.cpp is the command line over
// it): stiffness measured on fixed probe sets while the shared runner (train_classifier) trains,
// through its hooks, so runs checkpoint, stop on SIGINT and resume exactly like gs-train; sweeps
// over learning rates; super-class matrices for datasets with coarse labels (CIFAR-100); the
// run's summary, report.md and figures. The arithmetic is stiffness.h.
//
// Files of one run folder, besides the runner's (config.toml, metrics.jsonl, checkpoint.safetensors,
// randomization.bin, model.txt): stiffness.json (the conventions, the probes, and every
// measurement with its class matrices and distance curves), summary.json (the runner's summary
// plus the stiffness results; the runner's last evaluation is under "final_eval") and report.md.
// metrics.jsonl gets a {"kind": "stiffness_header"} record (the conventions) at step 0 and a
// {"kind": "stiffness"} record of scalars per measurement, between the runner's own records.
//
// A learning-rate sweep puts one such run per rate in <dir>/lr-<rate>/ and writes the comparison
// (summary.json, report.md, figures/stiffness_lr.png) into <dir>.
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "experiments/runner/classifier.h"
#include "experiments/stiffness/stiffness.h"

namespace gs::exp::stiffness {

// The conventions, written into every output file.
extern const char* const kConvention;

struct ProbeOptions {
    std::int64_t per_class = 10;  // probes per class from each split
    std::int64_t bins = 20;       // distance bins of the stiffness-vs-distance curves
    std::int64_t chunk = 0;       // examples per Gram block (measure_gram); 0: all probes in one pass

    void validate() const;  // throws naming the flag (--per-class, --bins, --probe-chunk)
    nlohmann::json to_json() const;
};

// The probes: the first `per_class` examples of each class of the (randomized) training split, then
// of the test split, in dataset order, put through `pipe` (the runner's evaluation pipeline), with
// their fine labels, their super-class labels when the dataset has them, and their input distances.
struct ProbeSet {
    Tensor x;  // (n, C, H, W), train probes first
    std::vector<std::int64_t> labels, coarse;  // (n); coarse empty without coarse labels
    std::vector<std::int64_t> train_indices, val_indices;
    std::int64_t n_train = 0, classes = 0, coarse_classes = 0;
    Matrix d_euclid, d_cos;  // (n, n), on the flattened inputs
    std::int64_t size() const { return std::int64_t(labels.size()); }
};
ProbeSet make_probes(const data::Splits& splits, const data::Pipeline& pipe, std::int64_t per_class);

// One measurement of `model` on `p`. scalars: probe losses and accuracies, zero_gradients, and per
// kind (cosine, sign) the block means, within/between-class means per set and, with super-classes,
// within/between-super-class means plus the fine between-class mean split by shared super-class;
// xi per distance (threshold 0 and half the first bin). full: scalars plus the class matrices
// (and super-class matrices), distance curves and gradient norms.
struct Measurement {
    nlohmann::json scalars, full;
};
Measurement measure(nn::Module& model, const ProbeSet& p, const ProbeOptions& o);

// The steps measured in a run of `total` steps: 0, 1, 2, 4, ... below `total`, and `total`.
std::vector<std::int64_t> measurement_steps(std::int64_t total);

// One training run measured at measurement_steps(): train_classifier with the stiffness hooks,
// then (when complete) summary.json and report.md completed from the run folder's files. The
// runner's rules apply: resume = true continues dir's checkpoint (returning at once if the run had
// completed), an existing run is never overwritten. `data`: as train_classifier.
ClassifierResult run_stiffness(const ClassifierSpec& spec, const ProbeOptions& probes, const RuntimeOptions& rt,
                               const std::filesystem::path& dir, bool resume, Progress& progress,
                               const data::Splits* data = nullptr);

// One run per learning rate (spec.lr replaced) in dir/lr_dir_name(lr), then the comparison in dir.
// Stops at the first interrupted run (its status and signal are returned; --resume continues it
// and the rest). The summary lists, per rate, the initial and final values and the course over
// training of within/between-class stiffness and xi, and says in which direction each moves with
// the learning rate (measured, not assumed: papers.md §2.3 reports both directions).
ClassifierResult run_lr_sweep(const ClassifierSpec& spec, const std::vector<double>& lrs, const ProbeOptions& probes,
                              const RuntimeOptions& rt, const std::filesystem::path& dir, bool resume, Progress& progress,
                              const data::Splits* data = nullptr);

// "lr-0.01", "lr-0.3": the sub-folder of a sweep's run (shortest round-trip decimal of lr).
std::string lr_dir_name(double lr);

// "increases", "decreases" or "is not monotonic" (NaN values make it "is undetermined"): how
// values[k] moves as k grows, for the sweep's sentences.
std::string direction(const std::vector<double>& values);

}  // namespace gs::exp::stiffness
