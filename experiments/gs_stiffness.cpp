// gs-stiffness: Fort et al. 2019 (papers.md §2). Trains a classifier with the shared runner (plain
// SGD, constant learning rate by default) and, at log-spaced steps (0, 1, 2, 4, ..., the last),
// measures on fixed probe sets (the first M examples of each class from the training and the test
// split): sign and cosine stiffness for train-train, train-val and val-val pairs, class-stiffness
// matrices (and super-class matrices on CIFAR-100), stiffness vs input distance and the critical
// length xi. Runs checkpoint, stop on SIGINT and continue with --resume like gs-train. --lrs a,b,c
// runs one training per learning rate (sub-folders lr-<rate>) and compares them. With --checkpoint
// FILE --eval-only it measures a saved model on the first M test examples of each class instead.
// The experiment: experiments/stiffness/experiment.h; the arithmetic: experiments/stiffness/stiffness.h.
#include <omp.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "data/datasets.h"
#include "experiments/runner/classifier.h"
#include "experiments/runner/common_flags.h"
#include "experiments/runner/figures.h"
#include "experiments/runner/flags.h"
#include "experiments/runner/interrupt.h"
#include "experiments/runner/run_dir.h"
#include "experiments/stiffness/experiment.h"
#include "nn/checkpoint.h"
#include "nn/per_example.h"
#include "nn/safetensors.h"
#include "tensor/error.h"

using namespace gs;
using namespace gs::exp;
using namespace gs::exp::stiffness;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

std::string fmt(const json& v) {
    if (!v.is_number()) return "-";
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", v.get<double>());
    return b;
}

// "0.01,0.1" -> {0.01, 0.1}; every entry a positive finite number.
std::vector<double> parse_lrs(const std::string& list) {
    std::vector<double> out;
    for (const std::string& item : split_list(list)) {
        double v = 0;
        const auto res = std::from_chars(item.data(), item.data() + item.size(), v);
        GS_CHECK(res.ec == std::errc() && res.ptr == item.data() + item.size(), "--lrs: '", item, "' is not a number");
        GS_CHECK(std::isfinite(v) && v > 0, "--lrs: learning rates must be positive, got ", item);
        out.push_back(v);
    }
    GS_CHECK(!out.empty(), "--lrs: no learning rate in '", list, "'");
    std::vector<double> sorted = out;
    std::sort(sorted.begin(), sorted.end());
    GS_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), "--lrs: a learning rate is listed twice");
    return out;
}

void eval_only(const ClassifierSpec& s, const ProbeOptions& o, const std::string& checkpoint, const RuntimeOptions& rt,
               const fs::path& dir) {
    const Device device = check_device(rt);
    // The first M test examples per class stand in as the one probe set (the "train" range of ProbeSet).
    const data::Splits raw = data::load_dataset(s.dataset, s.data_dir);
    data::Splits ev;
    ev.train = raw.test;
    ev.test = data::Dataset{};
    const ProbeSet p = make_probes(ev, classifier_pipeline(s, false), o.per_class);
    auto model = build_classifier_model(s.model, s.widths, 0, p.x.size(1), p.x.size(2), p.x.size(3), p.classes, "; set --crop 28");
    nn::NamedTensors state;
    for (auto& [name, t] : nn::load_safetensors(checkpoint).tensors)
        if (name.rfind(nn::kOptimizerPrefix, 0) != 0) state.emplace_back(name, t);
    model->load_state_dict(state);  // strict: names every missing or unexpected tensor
    model->to(device);
    const Measurement m = measure(*model, p, o);
    const json header = {{"convention", kConvention},
                         {"batch_norm_policy", nn::batch_norm_policy_name(nn::BatchNormPolicy::eval_stats)},
                         {"program", "gs-stiffness"},
                         {"config", s.to_json()},
                         {"probes", o.to_json()},
                         {"device", rt.device}};
    json out = header;
    out["checkpoint"] = checkpoint;
    out["examples"] = {{"split", "test"}, {"indices", p.train_indices}, {"labels", p.labels}};
    out["classes"] = p.classes;
    out["sign"] = m.full["class_stiffness"]["train"]["sign"];
    out["cosine"] = m.full["class_stiffness"]["train"]["cosine"];
    if (m.full.contains("superclass_stiffness")) {
        out["coarse_labels"] = p.coarse;
        out["superclass"] = {{"sign", m.full["superclass_stiffness"]["train"]["sign"]},
                             {"cosine", m.full["superclass_stiffness"]["train"]["cosine"]}};
    }
    out["gradient_norms"] = m.full["gradient_norms"];
    out["within_class"] = {{"sign", m.scalars["sign"]["train_within_class"]}, {"cosine", m.scalars["cosine"]["train_within_class"]}};
    out["between_class"] = {{"sign", m.scalars["sign"]["train_between_class"]}, {"cosine", m.scalars["cosine"]["train_between_class"]}};
    out["pairs"] = {{"sign", m.scalars["sign"]["train_train"]}, {"cosine", m.scalars["cosine"]["train_train"]}};
    out["xi"] = m.scalars["xi"];
    out["distance_curves"] = m.full["distance_curves"];
    write_json_atomic(dir / "stiffness.json", out);
    json summary = header;
    summary["status"] = "complete";
    summary["mode"] = "eval_only";
    summary["within_class"] = out["within_class"];
    summary["between_class"] = out["between_class"];
    write_json_atomic(dir / "summary.json", summary);
    std::printf("eval-only: %lld test examples, cosine within-class %s between-class %s, sign within %s between %s\n",
                (long long)p.size(), fmt(out["within_class"]["cosine"]).c_str(), fmt(out["between_class"]["cosine"]).c_str(),
                fmt(out["within_class"]["sign"]).c_str(), fmt(out["between_class"]["sign"]).c_str());
    std::printf("stiffness: %s\n", (dir / "stiffness.json").c_str());
}

}  // namespace

int main(int argc, char** argv) {
    return run_main("gs-stiffness", [&]() -> int {
        CLI::App app{"gs-stiffness: stiffness of per-example gradients over training (Fort et al. 2019)", "gs-stiffness"};
        Flags f(app);
        ClassifierSpec s;
        // gs-stiffness's defaults (plain SGD at a constant rate, a 2x512 MLP), set before the flags
        // capture them for --help.
        s.widths = {512, 512};
        s.epochs = 1;
        s.batch_size = 64;
        s.lr = 0.05;
        s.momentum = 0.0;
        s.schedule = "constant";
        ProbeOptions o;
        CommonOptions common;
        std::string lrs, checkpoint;
        bool eval = false;
        add_common_flags(f, common,
                         "quick (10,000 Fashion-MNIST images, 10 epochs of the 2x512 MLP, 20 probes per class; a few minutes on 2 cores)");
        add_data_flags(f, s);
        f.option("--randomize", s.randomize, "true_labels or random_labels (training labels, probes included)");
        f.option("--crop", s.crop, "center crop to N x N (28: the conv models' input size)");
        f.flag("--whiten", s.whiten, "per-image whitening after scaling to [0, 1]");
        f.option("--model", s.model, "mlp, alexnet_small, inception_small or inception_small_nobn");
        f.option("--widths", s.widths, "mlp hidden widths, e.g. 512,512");
        f.option("--lr", s.lr, "SGD learning rate (constant)");
        f.option("--lrs", lrs, "learning-rate sweep, e.g. 0.01,0.03,0.1: one run per rate in sub-folders lr-<rate>, compared");
        f.option("--momentum", s.momentum, "SGD momentum");
        f.option("--epochs", s.epochs, "epochs to train (unless --steps)");
        f.option("--steps", s.steps, "optimizer steps to train (0: --epochs worth)");
        f.option("--batch-size", s.batch_size, "minibatch size");
        f.option("--per-class", o.per_class, "probe examples per class from each split");
        f.option("--bins", o.bins, "distance bins of the stiffness-vs-distance curves");
        f.option("--probe-chunk", o.chunk, "probe examples per Gram block: bounds measurement memory (0: all probes in one pass)");
        f.option("--log-every", s.log_every, "steps between loss records");
        f.option("--checkpoint-every", s.checkpoint_every, "steps between checkpoints besides epoch ends (0: none)");
        f.runtime_option("--checkpoint", checkpoint, "with --eval-only: the model to measure (a gradscope checkpoint or safetensors state dict)");
        f.runtime_flag("--eval-only", eval, "measure --checkpoint on the first --per-class test examples of each class, no training");

        if (int rc = parse_run_flags(app, argc, argv); rc >= 0) return rc;
        if (common.preset == "quick") {
            f.preset("--train-examples", s.train_examples, std::int64_t(10000));
            f.preset("--test-examples", s.test_examples, std::int64_t(2000));
            f.preset("--epochs", s.epochs, std::int64_t(10));
            f.preset("--per-class", o.per_class, std::int64_t(20));
        } else GS_CHECK(common.preset.empty(), "--preset: unknown preset '", common.preset, "' (quick)");
        s.seed = common.seed;
        GS_CHECK(s.randomize == "true_labels" || s.randomize == "random_labels",
                 "--randomize: gs-stiffness takes true_labels or random_labels, got '", s.randomize, "'");
        s.validate();
        o.validate();
        GS_CHECK(!eval || !checkpoint.empty(), "--eval-only needs --checkpoint FILE");
        GS_CHECK(checkpoint.empty() || eval, "--checkpoint is read only with --eval-only");
        std::vector<double> sweep;
        if (!lrs.empty()) {
            sweep = parse_lrs(lrs);
            // A resumed sweep's config.toml holds the default --lr too: only a new run is checked.
            GS_CHECK(!common.resume.empty() || !f.given("--lr"), "--lrs: cannot be combined with --lr (the sweep sets each run's rate)");
            GS_CHECK(!eval, "--lrs: cannot be combined with --eval-only");
        }
        if (common.runtime.threads > 0) omp_set_num_threads(common.runtime.threads);

        const fs::path dir = prepare_run_dir(f, common, "stiffness");
        Progress progress(progress_mode(common.progress), common.runtime.plain_interval_seconds);
        if (eval) {
            eval_only(s, o, checkpoint, common.runtime, dir);
            if (common.plot) draw_figures("stiffness", dir, progress);
            return 0;
        }
        const bool resume = !common.resume.empty();

        if (!sweep.empty()) {
            progress.line("gs-stiffness: " + s.model + " on " + s.dataset + ", " + std::to_string(sweep.size()) +
                          " learning rates, run folder " + dir.string());
            const ClassifierResult r = run_lr_sweep(s, sweep, o, common.runtime, dir, resume, progress);
            if (r.status == "interrupted") return exit_code_for_signal(r.signal);
            if (common.plot) {
                for (double lr : sweep) draw_figures("stiffness", dir / lr_dir_name(lr), progress);
                draw_figures("stiffness_lr", dir, progress);
            }
            for (const json& e : r.summary["runs"])
                std::printf("lr %s: final cosine within-class %s between-class %s, xi_1/2 %s\n", fmt(e["lr"]).c_str(),
                            fmt(e["final"]["cosine"]["train_within_class"]).c_str(),
                            fmt(e["final"]["cosine"]["train_between_class"]).c_str(),
                            fmt(e["final"]["xi"]["euclidean"]["half"]).c_str());
            std::printf("report: %s\n", (dir / "report.md").c_str());
            return 0;
        }

        progress.line("gs-stiffness: " + s.model + " on " + s.dataset + " (" + s.randomize + "), run folder " + dir.string());
        const ClassifierResult r = run_stiffness(s, o, common.runtime, dir, resume, progress);
        if (r.status == "interrupted") return exit_code_for_signal(r.signal);
        if (common.plot) draw_figures("stiffness", dir, progress);
        const json& fin = r.summary["final"];
        std::printf("final (step %lld): cosine train-train %s train-val %s val-val %s; between-class %s; %.1f s\n",
                    (long long)fin["step"].get<std::int64_t>(), fmt(fin["cosine"]["train_train"]).c_str(),
                    fmt(fin["cosine"]["train_val"]).c_str(), fmt(fin["cosine"]["val_val"]).c_str(),
                    fmt(fin["cosine"]["train_between_class"]).c_str(), r.summary.value("wall_seconds", 0.0));
        std::printf("summary: %s\n", (dir / "summary.json").c_str());
        return 0;
    });
}
