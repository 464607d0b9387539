// The randomization tests of Zhang et al. §2: runs, summary, report.
#include "experiments/zhang/randomization.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

#include "data/randomize.h"
#include "data/transforms.h"
#include "experiments/runner/interrupt.h"
#include "experiments/runner/run_dir.h"
#include "experiments/zhang/parts.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace gs::exp::zhang {

namespace fs = std::filesystem;

namespace {

// CIFAR-10 reference values (papers.md §1.5, §1.6: Table 1, no augmentation, no weight decay).
struct PaperRow {
    double true_test_accuracy, random_test_accuracy, random_train_accuracy;
};
const std::map<std::string, PaperRow>& paper_rows() {
    static const std::map<std::string, PaperRow> rows{{"inception_small", {85.75, 9.78, 100.0}},
                                                      {"inception_small_nobn", {82.00, 10.12, 100.0}},
                                                      {"alexnet_small", {76.07, 9.86, 99.82}},
                                                      {"mlp_3x512", {52.39, 10.48, 100.0}},
                                                      {"mlp_1x512", {50.51, 10.61, 99.34}}};
    return rows;
}

// Third-party reproduction (papers.md §1.4; small Inception, CIFAR-10, batch 128): steps until the
// training loss reached 0.1.
const std::map<std::string, double>& reproduction_steps() {
    static const std::map<std::string, double> steps{{"true_labels", 4000},   {"shuffled_pixels", 5600},
                                                     {"gaussian", 8800},      {"random_pixels", 11900},
                                                     {"random_labels", 16600}};
    return steps;
}

// (kind, p) of every run of one model, figure 1a settings first, without repeats.
std::vector<std::pair<std::string, double>> runs_of(const RandomizationSpec& spec) {
    std::vector<std::pair<std::string, double>> out;
    std::set<std::string> seen;
    auto add = [&](std::string kind, double p) {
        if (kind == "partial_labels" && p == 0.0) kind = "true_labels";
        if (kind == "partial_labels" && p == 1.0) kind = "random_labels";
        if (kind != "partial_labels") p = kind == "random_labels" ? 1.0 : 0.0;
        if (seen.insert(setting_name(kind, p)).second) out.emplace_back(kind, p);
    };
    for (const std::string& k : spec.settings) add(k, k == "partial_labels" ? spec.figure_p : 0.0);
    for (double p : spec.corruption) add("partial_labels", p);
    return out;
}

std::string num(const nlohmann::json& x) { return x.is_number() ? x.dump() : std::string("never"); }

// What a researcher asks of a training example a run could not fit: its label, whether that label
// was redrawn, and its nearest other training image as the model sees it (after the evaluation
// pipeline) with that image's label. A near copy under another label is the usual culprit. The
// distances are summed differences, not kernels::pairwise_sq_dist's |x|^2 + |y|^2 - 2 x.y, whose
// cancellation would blur exactly the near-zero distances asked about (one row against N is cheap).
nlohmann::json unfit_details(const data::Splits& raw, const fs::path& record, const ClassifierSpec& spec,
                             const nlohmann::json& indices) {
    const data::RandomizationRecord rec = data::load_record(record);
    const data::Splits splits = data::reapply(raw, rec);
    const Tensor x = classifier_pipeline(spec, false)(splits.train.images, spec.seed, 0, 0).to(DType::f64).contiguous();
    const std::int64_t N = x.size(0), D = x.numel() / std::max<std::int64_t>(N, 1);
    const double* px = x.data<double>();
    const std::vector<std::int64_t> labels = splits.train.labels.to_vector<std::int64_t>();
    nlohmann::json out = nlohmann::json::array();
    for (const auto& idx : indices) {
        const std::int64_t i = idx.get<std::int64_t>();
        double norm = 0, best = INFINITY;
        std::int64_t nearest = -1;
        for (std::int64_t k = 0; k < D; ++k) norm += px[i * D + k] * px[i * D + k];
        for (std::int64_t j = 0; j < N; ++j) {
            if (j == i) continue;
            double d = 0;
            for (std::int64_t k = 0; k < D; ++k) d += (px[i * D + k] - px[j * D + k]) * (px[i * D + k] - px[j * D + k]);
            if (d < best) best = d, nearest = j;
        }
        nlohmann::json e = {{"index", i},
                            {"label", labels[std::size_t(i)]},
                            {"label_redrawn", rec.train_corrupted.defined() && rec.train_corrupted.at({i}) != 0}};
        if (nearest >= 0) {
            e["nearest"] = nearest;
            e["nearest_label"] = labels[std::size_t(nearest)];
            e["relative_distance"] = norm > 0 ? nlohmann::json(std::sqrt(best / norm)) : nlohmann::json(nullptr);
        }
        out.push_back(e);
    }
    return out;
}

}  // namespace

std::string setting_name(const std::string& kind, double p) {
    if (kind != "partial_labels") return kind;
    char buf[48];
    std::snprintf(buf, sizeof buf, "partial_labels_p%g", p);
    return buf;
}

void RandomizationSpec::validate() const {
    check_models(models, "--models");
    for (const auto& k : settings) data::parse_randomization(k);
    GS_CHECK(figure_p > 0 && figure_p < 1, "--figure-p: must lie in (0, 1), got ", figure_p);
    for (double p : corruption) GS_CHECK(p >= 0 && p <= 1, "--corruption: every level must lie in [0, 1], got ", p);
    const double* repeat = first_repeat(corruption);
    GS_CHECK(!repeat, "--corruption: ", *repeat, " is listed twice");
    GS_CHECK(inception_lr > 0 && nobn_inception_lr > 0 && other_lr > 0,
             "--lr / --lr-inception / --lr-inception-nobn: must be positive");
    validate_base(base);
}

RandomizationResult run_randomization(const RandomizationSpec& spec, const RuntimeOptions& rt, const fs::path& dir,
                                      bool resume, Progress& progress, const data::Splits* preloaded) {
    spec.validate();
    fs::create_directories(dir);
    data::Splits loaded;
    const data::Splits& data = experiment_data(spec.base, preloaded, loaded);

    nlohmann::json summary = {{"experiment", "zhang2017.randomization"},
                              {"status", "running"},
                              {"dataset", spec.base.dataset},
                              {"train_examples", data.train.size()},
                              {"test_examples", data.test.size()},
                              {"classes", data.train.num_classes},
                              {"config", spec.base.to_json()},
                              {"figure_p", spec.figure_p},
                              {"corruption", spec.corruption},
                              {"models", nlohmann::json::object()}};
    summary["config"]["lr_inception"] = spec.inception_lr;
    summary["config"]["lr_inception_nobn"] = spec.nobn_inception_lr;
    summary["config"]["lr_others"] = spec.other_lr;
    const auto runs = runs_of(spec);
    for (const std::string& model : spec.models) {
        nlohmann::json& m = summary["models"][model];
        m["runs"] = nlohmann::json::object();
        for (const auto& [kind, p] : runs) {
            ClassifierSpec s = spec.base;
            configure_model(model, spec.inception_lr, spec.nobn_inception_lr, spec.other_lr, s);
            s.randomize = kind;
            s.corrupt_prob = kind == "partial_labels" ? p : 0.0;
            s.stop_at_fit = true;
            const std::string name = setting_name(kind, p);
            const ClassifierResult r = run_part(s, rt, dir / model / name, resume, progress, data, model + " / " + name);
            m["parameters"] = r.summary["parameters"];
            nlohmann::json row = part_row(r);
            row["kind"] = kind;
            row["p"] = p;
            if (row.contains("train_misclassified") && fs::exists(dir / model / name / "randomization.bin"))
                row["train_misclassified_details"] = unfit_details(data, dir / model / name / "randomization.bin", s,
                                                                   row["train_misclassified"]);
            m["runs"][name] = row;
            if (r.status == "interrupted") {
                summary["status"] = "interrupted";
                write_json_atomic(dir / "summary.json", summary);
                return {"interrupted", r.signal, summary};
            }
        }
        // Figure 1b/1c: convergence time relative to p = 0, and test error, per corruption level.
        // Settings left out (say --settings partial_labels --corruption 0.4: no true-label run) read
        // as null; a const lookup, since operator[] on a mutable object would add them as runs.
        const nlohmann::json& runs_done = m["runs"];
        auto field = [&](const std::string& name, const char* key) {
            return runs_done.contains(name) ? runs_done[name].value(key, nlohmann::json()) : nlohmann::json();
        };
        nlohmann::json curve = nlohmann::json::array();
        const nlohmann::json base_steps = field("true_labels", "first_step_train_accuracy_100");
        for (double p : spec.corruption) {
            const std::string name = setting_name(p == 0 ? "true_labels" : p == 1 ? "random_labels" : "partial_labels", p);
            const nlohmann::json steps = field(name, "first_step_train_accuracy_100");
            const nlohmann::json test_accuracy = field(name, "test_accuracy");
            nlohmann::json rel = nullptr;
            if (steps.is_number() && base_steps.is_number() && base_steps.get<double>() > 0)
                rel = steps.get<double>() / base_steps.get<double>();
            curve.push_back({{"p", p},
                             {"steps_to_fit", steps},
                             {"relative_steps", rel},
                             {"test_error", test_accuracy.is_number() ? nlohmann::json(1.0 - test_accuracy.get<double>())
                                                                      : nlohmann::json(nullptr)}});
        }
        m["corruption_curve"] = curve;
        // The claims of §2 that a run can check on its own data.
        nlohmann::json checks = nlohmann::json::object();
        bool all_fit = true;
        for (const auto& [name, run] : m["runs"].items()) all_fit = all_fit && run["first_step_train_accuracy_100"].is_number();
        checks["every_setting_fits"] = all_fit;
        if (m["runs"].contains("random_labels") && m["runs"]["random_labels"]["test_accuracy"].is_number()) {
            // Chance = 1/K; three binomial standard deviations of the test-set accuracy.
            const double K = double(data.train.num_classes), n = double(std::max<std::int64_t>(data.test.size(), 1));
            const double chance = 1.0 / K, tol = 3.0 * std::sqrt(chance * (1 - chance) / n);
            checks["random_labels_test_at_chance"] =
                std::abs(m["runs"]["random_labels"]["test_accuracy"].get<double>() - chance) <= tol;
            const nlohmann::json rs = m["runs"]["random_labels"]["first_step_train_accuracy_100"];
            checks["random_labels_fit_slower"] = rs.is_number() && base_steps.is_number() && rs.get<double>() > base_steps.get<double>();
        }
        bool grows = true;
        for (std::size_t i = 1; i < curve.size(); ++i)
            if (curve[i]["test_error"].is_number() && curve[i - 1]["test_error"].is_number())
                grows = grows && curve[i]["test_error"].get<double>() >= curve[i - 1]["test_error"].get<double>() - 0.01;
        checks["test_error_grows_with_p"] = grows;
        m["checks"] = checks;
        write_json_atomic(dir / "summary.json", summary);
    }
    summary["status"] = "complete";
    write_json_atomic(dir / "summary.json", summary);
    write_file_atomic(dir / "report.md", randomization_report(summary));
    return {"complete", 0, summary};
}

std::string randomization_report(const nlohmann::json& s) {
    std::ostringstream r;
    const nlohmann::json& c = s["config"];
    r << "# Randomization tests (Zhang et al. 2017, section 2)\n\n";
    r << "## Setup\n\n";
    r << "- Data: " << s["dataset"].get<std::string>() << ", " << s["train_examples"] << " training and "
      << s["test_examples"] << " test examples, " << c["crop"] << "x" << c["crop"] << " center crop, /255"
      << (c["whiten"].get<bool>() ? ", per-image whitening" : "") << ".\n";
    r << "- Optimization: " << c["optimizer"].get<std::string>() << " (momentum " << c["momentum"] << "), lr "
      << c["lr_inception"] << " for inception_small, " << c.value("lr_inception_nobn", c["lr_inception"])
      << " for inception_small_nobn and " << c["lr_others"] << " otherwise, schedule "
      << c["schedule"].get<std::string>() << " (gamma " << c["gamma"] << "), batch " << c["batch_size"]
      << ", no weight decay, dropout or augmentation; the same hyperparameters for every setting.\n";
    r << "- Each run stops at the first epoch end with 100% training accuracy (eval mode, whole training "
         "split), or after "
      << c["epochs"] << " epochs. \"Steps to fit\" is the step count at that epoch end.\n";
    r << "- Paper numbers are CIFAR-10 (Table 1, no augmentation, no weight decay; papers.md section 1.6)"
      << (s["dataset"] == "cifar10" ? "" : "; this run used " + s["dataset"].get<std::string>() + ", so they are a reference, not a target")
      << ".\n\n";

    for (const auto& [model, m] : s["models"].items()) {
        r << "## " << model << " (" << m.value("parameters", nlohmann::json(0)) << " parameters)\n\n";
        r << "| setting | steps to fit | epochs | final train acc % | final test acc % | best test acc % | final train loss |\n";
        r << "|---|---|---|---|---|---|---|\n";
        for (const auto& [name, run] : m["runs"].items()) {
            char loss[32] = "-";
            if (run["train_loss"].is_number()) std::snprintf(loss, sizeof loss, "%.4f", run["train_loss"].get<double>());
            r << "| " << name << " | " << num(run["first_step_train_accuracy_100"]) << " | " << run["epochs"] << " | "
              << percent(run["train_accuracy"]) << " | " << percent(run["test_accuracy"]) << " | " << percent(run["best_test_accuracy"])
              << " | " << loss << " |\n";
        }
        auto paper = paper_rows().find(model);
        if (paper != paper_rows().end()) {
            r << "\nPaper (CIFAR-10, Table 1): true labels " << paper->second.true_test_accuracy << "% test accuracy; random labels "
              << paper->second.random_train_accuracy << "% train / " << paper->second.random_test_accuracy << "% test.\n";
        }
        if (model == "inception_small") {
            r << "Third-party reproduction (small Inception, CIFAR-10): steps until the training loss reached 0.1:";
            for (const auto& [k, v] : reproduction_steps()) r << " " << k << " " << v / 1000 << "k;";
            r << " our column is steps to 100% accuracy, a later point.\n";
        }
        bool any_unfit = false;
        for (const auto& [name, run] : m["runs"].items()) {
            if (!run.contains("train_misclassified_details")) continue;
            if (!any_unfit)
                r << "\nTraining examples the last evaluation still got wrong (index in the training split), with their "
                     "nearest other training image after preprocessing (relative distance ||x_i - x_j|| / ||x_i||):\n";
            any_unfit = true;
            r << "- " << name << ":";
            for (const auto& e : run["train_misclassified_details"]) {
                r << " " << e["index"] << " (label " << e["label"] << (e["label_redrawn"].get<bool>() ? ", redrawn" : "");
                if (e.contains("nearest")) {
                    char rel[32] = "-";
                    if (e["relative_distance"].is_number())
                        std::snprintf(rel, sizeof rel, "%.3f", e["relative_distance"].get<double>());
                    r << "; nearest " << e["nearest"] << " at " << rel << ", label " << e["nearest_label"];
                }
                r << ")";
            }
            r << "\n";
        }
        r << "\nFigure 1b/1c data (label corruption p):\n\n| p | steps to fit | relative to p = 0 | test error % |\n|---|---|---|---|\n";
        for (const auto& row : m["corruption_curve"]) {
            char rel[32] = "-";
            if (row["relative_steps"].is_number()) std::snprintf(rel, sizeof rel, "%.2f", row["relative_steps"].get<double>());
            r << "| " << row["p"] << " | " << num(row["steps_to_fit"]) << " | " << rel << " | " << percent(row["test_error"]) << " |\n";
        }
        if (paper != paper_rows().end())
            r << "\nPaper end points (CIFAR-10): test error " << 100 - paper->second.true_test_accuracy << "% at p = 0 and "
              << 100 - paper->second.random_test_accuracy << "% at p = 1; convergence slows smoothly with p.\n";
        r << "\nChecks:";
        for (const auto& [k, v] : m["checks"].items()) r << " " << k << " " << (v.get<bool>() ? "yes" : "NO") << ";";
        r << "\n\n";
    }
    r << "## Figures\n\n![Figure 1a](figures/figure1a.png)\n\n![Figure 1b](figures/figure1b.png)\n\n"
         "![Figure 1c](figures/figure1c.png)\n";
    return r.str();
}

}  // namespace gs::exp::zhang
