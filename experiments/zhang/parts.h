#pragma once
// What the Zhang et al. experiments share: the paper's model names mapped to classifier specs, and
// one training run ("part") inside an experiment's folder, resumed when it was interrupted and
// summarized as one row.
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "experiments/runner/classifier.h"

namespace gs::exp::zhang {

// inception_small, inception_small_nobn, alexnet_small, mlp_1x512, mlp_3x512.
const std::vector<std::string>& model_names();
// Throws "<flag>: unknown model 'x' (...)" for a name not in model_names(), and "<flag>: 'x' is
// listed twice" for a repeat.
void check_models(const std::vector<std::string>& models, const std::string& flag);
// The first entry of a flag's list that repeats an earlier one, or null. For lists whose entries
// each name a run or a result (models, corruption levels, kernel lambdas): a repeat would redo one
// and report it twice.
template <class T>
const T* first_repeat(const std::vector<T>& values) {
    for (std::size_t i = 0; i < values.size(); ++i)
        for (std::size_t j = 0; j < i; ++j)
            if (values[j] == values[i]) return &values[i];
    return nullptr;
}
// Sets s.model, s.widths and s.lr: inception_lr for inception_small (papers.md §1.3),
// nobn_inception_lr for inception_small_nobn, other_lr for the rest.
void configure_model(const std::string& model, double inception_lr, double nobn_inception_lr, double other_lr,
                     ClassifierSpec& s);

// Checks the settings every part shares (data, optimization, loop), with a stand-in model.
void validate_base(const ClassifierSpec& base);
// `given` when not null, else base's dataset loaded into `storage`: the splits all parts train on.
const data::Splits& experiment_data(const ClassifierSpec& base, const data::Splits* given, data::Splits& storage);

// Trains `spec` in `dir`, continuing an earlier part there when `resume` is set and a checkpoint
// exists (a completed part returns its summary at once).
ClassifierResult run_part(const ClassifierSpec& spec, const RuntimeOptions& runtime, const std::filesystem::path& dir,
                          bool resume, Progress& progress, const data::Splits& data, const std::string& label);

// The summary row of a part: status, final train/test accuracy and loss, best test accuracy,
// first step at 100% training accuracy, steps, epochs, examples/s, and train_misclassified (the
// training-split indices the final evaluation got wrong) when the run lists them.
nlohmann::json part_row(const ClassifierResult& r);

// "85.75" for 0.8575; "-" for null.
std::string percent(const nlohmann::json& fraction);

}  // namespace gs::exp::zhang
