// Table 1 of Zhang et al.: explicit regularizers on and off.
#include "experiments/zhang/regularization.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <sstream>

#include "experiments/runner/run_dir.h"
#include "experiments/zhang/parts.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace gs::exp::zhang {

namespace fs = std::filesystem;

namespace {

struct Row {
    std::string name;  // sub-folder
    bool crop, wd, random_labels;
};

const std::vector<std::string>& row_names() {
    static const std::vector<std::string> names{"crop_wd", "crop", "wd", "none", "random_labels", "random_labels_wd"};
    return names;
}

// Every Table 1 row of `model` (no crop rows for the no-BN Inception, whose paper rows lack them).
std::vector<Row> all_rows_for(const RegularizationSpec& spec, const std::string& model) {
    std::vector<Row> rows;
    const bool nobn = model == "inception_small_nobn";
    if (!nobn) {
        rows.push_back({"crop_wd", true, true, false});
        rows.push_back({"crop", true, false, false});
    }
    rows.push_back({"wd", false, true, false});
    rows.push_back({"none", false, false, false});
    if (spec.random_label_rows) {
        rows.push_back({"random_labels", false, false, true});
        if (!nobn) rows.push_back({"random_labels_wd", false, true, true});
    }
    return rows;
}

// The rows of `model` that spec.rows selects.
std::vector<Row> rows_for(const RegularizationSpec& spec, const std::string& model) {
    std::vector<Row> all = all_rows_for(spec, model), rows;
    for (const Row& r : all)
        if (spec.rows.empty() || std::find(spec.rows.begin(), spec.rows.end(), r.name) != spec.rows.end()) rows.push_back(r);
    return rows;
}

// Table 1 (papers.md §1.6): train/test accuracy % per model and row; Appendix E (§1.8): random-label
// training accuracy with weight decay.
const std::map<std::string, std::map<std::string, std::pair<double, double>>>& paper_table() {
    static const std::map<std::string, std::map<std::string, std::pair<double, double>>> t{
        {"inception_small",
         {{"crop_wd", {100.0, 89.05}}, {"crop", {100.0, 89.31}}, {"wd", {100.0, 86.03}}, {"none", {100.0, 85.75}},
          {"random_labels", {100.0, 9.78}}, {"random_labels_wd", {100.0, -1}}}},
        {"inception_small_nobn", {{"wd", {100.0, 83.00}}, {"none", {100.0, 82.00}}, {"random_labels", {100.0, 10.12}}}},
        {"alexnet_small",
         {{"crop_wd", {99.90, 81.22}}, {"crop", {99.82, 79.66}}, {"wd", {100.0, 77.36}}, {"none", {100.0, 76.07}},
          {"random_labels", {99.82, 9.86}}}},
        {"mlp_3x512",
         {{"wd", {100.0, 53.35}}, {"none", {100.0, 52.39}}, {"random_labels", {100.0, 10.48}},
          {"random_labels_wd", {100.0, -1}}}},
        {"mlp_1x512",
         {{"wd", {99.80, 50.39}}, {"none", {100.0, 50.51}}, {"random_labels", {99.34, 10.61}},
          {"random_labels_wd", {99.21, -1}}}}};
    return t;
}

}  // namespace

void RegularizationSpec::validate() const {
    check_models(models, "--models");
    for (const std::string& r : rows)
        GS_CHECK(std::find(row_names().begin(), row_names().end(), r) != row_names().end(), "--rows: unknown row '", r,
                 "' (crop_wd, crop, wd, none, random_labels, random_labels_wd)");
    GS_CHECK(weight_decay > 0, "--weight-decay: the \"yes\" rows need a positive coefficient, got ", weight_decay);
    GS_CHECK(pad >= -1, "--pad: must be -1 (automatic) or at least 0, got ", pad);
    GS_CHECK(inception_lr > 0 && nobn_inception_lr > 0 && other_lr > 0,
             "--lr / --lr-inception / --lr-inception-nobn: must be positive");
    validate_base(base);
}

RegularizationResult run_regularization(const RegularizationSpec& spec, const RuntimeOptions& rt, const fs::path& dir,
                                        bool resume, Progress& progress, const data::Splits* preloaded) {
    spec.validate();
    fs::create_directories(dir);
    data::Splits loaded;
    const data::Splits& data = experiment_data(spec.base, preloaded, loaded);
    const std::int64_t H = data.train.images.size(2);
    const std::int64_t pad = spec.pad >= 0 ? spec.pad : (H <= spec.base.crop ? 2 : 0);

    std::vector<std::string> models = spec.models;
    bool has_inception = false, has_nobn = false;
    for (const auto& m : models) {
        has_inception = has_inception || m == "inception_small";
        has_nobn = has_nobn || m == "inception_small_nobn";
    }
    if (spec.nobn_rows && has_inception && !has_nobn) models.push_back("inception_small_nobn");

    nlohmann::json summary = {{"experiment", "zhang2017.regularization"},
                              {"status", "running"},
                              {"dataset", spec.base.dataset},
                              {"train_examples", data.train.size()},
                              {"test_examples", data.test.size()},
                              {"weight_decay", spec.weight_decay},
                              {"pad", pad},
                              {"config", spec.base.to_json()},
                              {"lr_inception", spec.inception_lr},
                              {"lr_inception_nobn", spec.nobn_inception_lr},
                              {"lr_others", spec.other_lr},
                              {"models", nlohmann::json::object()}};
    for (const std::string& model : models) {
        nlohmann::json& m = summary["models"][model];
        m["rows"] = nlohmann::json::object();
        for (const Row& row : rows_for(spec, model)) {
            ClassifierSpec s = spec.base;
            configure_model(model, spec.inception_lr, spec.nobn_inception_lr, spec.other_lr, s);
            s.random_crop = row.crop;
            s.pad = row.crop ? pad : 0;
            s.weight_decay = row.wd ? spec.weight_decay : 0.0;
            s.randomize = row.random_labels ? "random_labels" : "true_labels";
            const ClassifierResult r = run_part(s, rt, dir / model / row.name, resume, progress, data, model + " / " + row.name);
            nlohmann::json out = part_row(r);
            out["random_crop"] = row.crop;
            out["weight_decay"] = row.wd;
            out["random_labels"] = row.random_labels;
            m["rows"][row.name] = out;
            m["parameters"] = r.summary["parameters"];
            if (r.status == "interrupted") {
                summary["status"] = "interrupted";
                write_json_atomic(dir / "summary.json", summary);
                return {"interrupted", r.signal, summary};
            }
        }
        write_json_atomic(dir / "summary.json", summary);
    }
    summary["status"] = "complete";
    write_json_atomic(dir / "summary.json", summary);
    write_file_atomic(dir / "report.md", regularization_report(summary));
    return {"complete", 0, summary};
}

std::string regularization_report(const nlohmann::json& s) {
    std::ostringstream r;
    const nlohmann::json& c = s["config"];
    r << "# Explicit regularization (Zhang et al. 2017, section 3, Table 1)\n\n## Setup\n\n";
    r << "- Data: " << s["dataset"].get<std::string>() << ", " << s["train_examples"] << " training and "
      << s["test_examples"] << " test examples; " << c["crop"] << "x" << c["crop"] << " crops (random crop rows: "
      << s["pad"] << " pixels of zero padding, then a random window; otherwise the center), /255, per-image whitening.\n";
    r << "- Optimization: " << c["optimizer"].get<std::string>() << " (momentum " << c["momentum"] << "), lr "
      << s["lr_inception"] << " for inception_small, " << s.value("lr_inception_nobn", s["lr_inception"])
      << " for inception_small_nobn and " << s["lr_others"] << " otherwise, schedule "
      << c["schedule"].get<std::string>() << ", batch " << c["batch_size"] << ", " << c["epochs"]
      << " epochs per row (no early stop). Weight decay rows: L2 coefficient " << s["weight_decay"]
      << " (the paper's value is unconfirmed).\n";
    r << "- Train accuracy is measured in eval mode on the whole training split at the end; \"best test\" is the "
         "highest test accuracy at any epoch end (the early-stopping reference of Table 2's parentheses).\n";
    r << "- Paper values are CIFAR-10 (papers.md section 1.6; the random-labels-with-weight-decay training accuracies "
         "from Appendix E, section 1.8, where AlexNet failed to converge)"
      << (s["dataset"] == "cifar10" ? "" : "; this run used " + s["dataset"].get<std::string>() + ", so they are a reference, not a target")
      << ".\n\n";
    r << "| model | # params | random crop | weight decay | labels | train acc % | test acc % | best test % | paper train % | paper test % |\n";
    r << "|---|---|---|---|---|---|---|---|---|---|\n";
    for (const auto& [model, m] : s["models"].items()) {
        const auto paper_model = paper_table().find(model);
        for (const std::string& name : row_names()) {
            if (!m["rows"].contains(name)) continue;
            const nlohmann::json& row = m["rows"][name];
            std::string paper_train = "-", paper_test = "-";
            if (paper_model != paper_table().end()) {
                auto p = paper_model->second.find(name);
                if (p != paper_model->second.end()) {
                    char buf[32];
                    std::snprintf(buf, sizeof buf, "%.2f", p->second.first);
                    paper_train = buf;
                    if (p->second.second >= 0) {
                        std::snprintf(buf, sizeof buf, "%.2f", p->second.second);
                        paper_test = buf;
                    }
                }
            }
            if (model == "alexnet_small" && std::string(name) == "random_labels_wd") paper_train = "does not converge";
            r << "| " << model << " | " << m["parameters"] << " | " << (row["random_crop"].get<bool>() ? "yes" : "no") << " | "
              << (row["weight_decay"].get<bool>() ? "yes" : "no") << " | " << (row["random_labels"].get<bool>() ? "random" : "true")
              << " | " << percent(row["train_accuracy"]) << " | " << percent(row["test_accuracy"]) << " | "
              << percent(row["best_test_accuracy"]) << " | " << paper_train << " | " << paper_test << " |\n";
        }
    }
    r << "\n## Figures\n\n";
    // scripts/plot.py draws Figure 2b only when both Inceptions ran the row without regularizers.
    auto has_none = [&](const char* model) {
        return s["models"].contains(model) && s["models"][model]["rows"].contains("none");
    };
    if (has_none("inception_small") && has_none("inception_small_nobn"))
        r << "![Figure 2b: Inception with and without BatchNorm](figures/figure2b.png)\n\n";
    r << "![Learning curves of every row](figures/regularization_curves.png)\n";
    return r.str();
}

}  // namespace gs::exp::zhang
