#pragma once
// Zhang et al. 2017, §2 (papers.md §1.4, §1.5): the randomization tests. For each model, one
// training run per setting, all with the same hyperparameters, each stopped once it fits the
// training set (100% training accuracy at an epoch end) or at max epochs:
//   Figure 1a settings: true labels, random labels, shuffled pixels, random pixels, Gaussian,
//                       partially corrupted labels (one level)
//   Figure 1b/1c grid:  partially corrupted labels at each p (p = 0 is the true-labels run and
//                       p = 1 the random-labels run, shared rather than trained twice)
// Each run lives in <dir>/<model>/<setting>/ (a classifier run folder, resumable on its own); the
// experiment's summary.json collects them and report.md puts them beside the paper's numbers.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "experiments/runner/classifier.h"
#include "experiments/runner/progress.h"

namespace gs::exp::zhang {

struct RandomizationSpec {
    // Model names: experiments/zhang/parts.h model_names().
    std::vector<std::string> models{"mlp_1x512", "mlp_3x512"};
    // Figure 1a settings (data/randomize.h names; "partial_labels" uses figure_p).
    std::vector<std::string> settings{"true_labels", "random_labels", "shuffled_pixels", "random_pixels", "gaussian",
                                      "partial_labels"};
    double figure_p = 0.5;
    // Figure 1b/1c corruption levels.
    std::vector<double> corruption{0.0, 0.2, 0.4, 0.6, 0.8, 1.0};
    // Data, optimization and loop settings shared by every run; model, lr, randomization and
    // stop_at_fit are set per run.
    ClassifierSpec base;
    double inception_lr = 0.1;  // papers.md §1.3
    // inception_small_nobn's rate: see RegularizationSpec::nobn_inception_lr for why it differs.
    double nobn_inception_lr = 0.003;
    double other_lr = 0.01;

    // Throws naming the flag of an invalid entry.
    void validate() const;
};

// The sub-folder name of a setting: "true_labels", ..., "partial_labels_p0.5".
std::string setting_name(const std::string& kind, double p);

struct RandomizationResult {
    std::string status;  // complete, interrupted
    int signal = 0;
    nlohmann::json summary;
};

// Runs (or resumes, skipping completed runs) every model x setting in `dir`, then writes
// summary.json and report.md there. `data`: the loaded splits (loaded from spec.base if null).
RandomizationResult run_randomization(const RandomizationSpec& spec, const RuntimeOptions& runtime,
                                      const std::filesystem::path& dir, bool resume, Progress& progress,
                                      const data::Splits* data = nullptr);

// report.md for a summary as written by run_randomization.
std::string randomization_report(const nlohmann::json& summary);

}  // namespace gs::exp::zhang
