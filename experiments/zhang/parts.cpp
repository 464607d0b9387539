// Shared pieces of the Zhang et al. experiments.
#include "experiments/zhang/parts.h"

#include <cstdio>

#include "tensor/error.h"

namespace gs::exp::zhang {

namespace fs = std::filesystem;

const std::vector<std::string>& model_names() {
    static const std::vector<std::string> names{"inception_small", "inception_small_nobn", "alexnet_small", "mlp_1x512",
                                                "mlp_3x512"};
    return names;
}

void check_models(const std::vector<std::string>& models, const std::string& flag) {
    GS_CHECK(!models.empty(), flag, ": give at least one model");
    std::string known;
    for (const auto& k : model_names()) known += (known.empty() ? "" : ", ") + k;
    for (const auto& m : models) {
        bool ok = false;
        for (const auto& k : model_names()) ok = ok || k == m;
        GS_CHECK(ok, flag, ": unknown model '", m, "' (", known, ")");
    }
    // A second entry would run into the first one's sub-run folders after all of its training.
    const std::string* repeat = first_repeat(models);
    GS_CHECK(!repeat, flag, ": '", *repeat, "' is listed twice");
}

void configure_model(const std::string& model, double inception_lr, double nobn_inception_lr, double other_lr,
                     ClassifierSpec& s) {
    if (model == "mlp_1x512" || model == "mlp_3x512") {
        s.model = "mlp";
        s.widths = model == "mlp_1x512" ? std::vector<std::int64_t>{512} : std::vector<std::int64_t>{512, 512, 512};
    } else {
        s.model = model;
    }
    s.lr = model == "inception_small" ? inception_lr : model == "inception_small_nobn" ? nobn_inception_lr : other_lr;
}

void validate_base(const ClassifierSpec& base) {
    ClassifierSpec probe = base;
    probe.model = "mlp";
    probe.widths = {8};
    probe.validate();
}

const data::Splits& experiment_data(const ClassifierSpec& base, const data::Splits* given, data::Splits& storage) {
    if (given) return *given;
    storage = load_classifier_data(base);
    return storage;
}

ClassifierResult run_part(const ClassifierSpec& spec, const RuntimeOptions& rt, const fs::path& dir, bool resume,
                          Progress& progress, const data::Splits& data, const std::string& label) {
    const bool continue_run = resume && fs::exists(dir / "checkpoint.safetensors");
    progress.line("== " + label + (continue_run ? " (resuming)" : ""));
    return train_classifier(spec, rt, dir, continue_run, progress, &data);
}

nlohmann::json part_row(const ClassifierResult& r) {
    const nlohmann::json& fin = r.summary["final"];
    auto get = [&](const char* key) { return fin.is_object() ? fin[key] : nlohmann::json(nullptr); };
    nlohmann::json row = {{"status", r.status},
                          {"train_accuracy", get("train_accuracy")},
                          {"test_accuracy", get("test_accuracy")},
                          {"train_loss", get("train_loss")},
                          {"test_loss", get("test_loss")},
                          {"best_test_accuracy", r.summary["best"]["test_accuracy"]},
                          {"first_step_train_accuracy_100", r.summary["first_step_train_accuracy_100"]},
                          {"steps", r.summary["steps"]},
                          {"epochs", r.summary["epochs"]},
                          {"parameters", r.summary["parameters"]},
                          {"examples_per_second", r.summary["examples_per_second"]}};
    if (fin.is_object() && fin.contains("train_misclassified")) row["train_misclassified"] = fin["train_misclassified"];
    return row;
}

std::string percent(const nlohmann::json& x) {
    if (!x.is_number()) return "-";
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.2f", 100.0 * x.get<double>());
    return buf;
}

}  // namespace gs::exp::zhang
