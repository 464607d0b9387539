// gs-stiffness: Fort et al. 2019 (papers.md §2). Trains a classifier with plain SGD and, at
// log-spaced steps (0, 1, 2, 4, ..., the last), measures on fixed probe sets (the first M examples
// of each class from the training and the test split): sign and cosine stiffness for train-train,
// train-val and val-val pairs, class-stiffness matrices, stiffness vs input distance and the
// critical length xi. With --checkpoint FILE --eval-only it measures a saved model instead, on the
// first M test examples of each class. Arithmetic: experiments/stiffness/stiffness.h.
//
// Files: config.toml, metrics.jsonl (a {"kind": "header"} record with the conventions, then
// {"kind": "step"} loss records and {"kind": "stiffness"} records), stiffness.json (every measurement with its class matrices and curves), summary.json,
// report.md, checkpoint.safetensors (the final weights), figures/ (scripts/plot.py stiffness).
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <set>

#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "data/datasets.h"
#include "data/loader.h"
#include "data/randomize.h"
#include "data/transforms.h"
#include "experiments/runner/classifier.h"
#include "experiments/runner/common_flags.h"
#include "experiments/runner/figures.h"
#include "experiments/runner/flags.h"
#include "experiments/runner/run_dir.h"
#include "experiments/stiffness/stiffness.h"
#include "nn/checkpoint.h"
#include "nn/models.h"
#include "nn/optim.h"
#include "nn/per_example.h"
#include "nn/safetensors.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"

using namespace gs;
using namespace gs::exp;
using namespace gs::exp::stiffness;
using json = nlohmann::json;
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kMinPairsPerBin = 10;                // bins thinner than this are not used for xi
const char* kConvention =
    "a per-example gradient is the gradient of that example's own (cross-entropy) loss over all trainable parameters; "
    "cosine stiffness = g_i.g_j / (|g_i||g_j|), 0 when either gradient is zero; sign stiffness = sign(g_i.g_j) with "
    "sign(0) = 0; pairs i == j are excluded from every mean";

struct Spec {
    std::string dataset = "fashion-mnist", data_dir, model = "mlp", randomize = "true_labels";
    std::vector<std::int64_t> widths{512, 512};
    std::int64_t train_examples = 0, epochs = 1, steps = 0, batch_size = 64, per_class = 10, bins = 20, log_every = 50;
    double lr = 0.05, momentum = 0.0;
    bool whiten = true, eval_only = false;
    std::string checkpoint;

    void validate() const {
        const auto& known = data::known_datasets();
        GS_CHECK(std::find(known.begin(), known.end(), dataset) != known.end(), "--dataset: unknown dataset '", dataset, "'");
        GS_CHECK(model == "mlp" || model == "alexnet_small" || model == "inception_small_nobn" || model == "inception_small",
                 "--model: unknown model '", model, "' (mlp, alexnet_small, inception_small, inception_small_nobn)");
        data::parse_randomization(randomize);
        GS_CHECK(randomize == "true_labels" || randomize == "random_labels", "--randomize: gs-stiffness takes true_labels or random_labels, got '",
                 randomize, "'");
        GS_CHECK(per_class >= 1, "--per-class: must be at least 1, got ", per_class);
        GS_CHECK(bins >= 1, "--bins: must be at least 1, got ", bins);
        GS_CHECK(std::isfinite(lr) && lr > 0, "--lr: must be positive, got ", lr);
        GS_CHECK(momentum >= 0 && momentum < 1, "--momentum: must lie in [0, 1), got ", momentum);
        GS_CHECK(epochs >= 1, "--epochs: must be at least 1, got ", epochs);
        GS_CHECK(steps >= 0, "--steps: must not be negative, got ", steps);
        GS_CHECK(batch_size >= 1, "--batch-size: must be at least 1, got ", batch_size);
        GS_CHECK(log_every >= 1, "--log-every: must be at least 1, got ", log_every);
        GS_CHECK(!eval_only || !checkpoint.empty(), "--eval-only needs --checkpoint FILE");
        GS_CHECK(checkpoint.empty() || eval_only, "--checkpoint is read only with --eval-only");
    }
    json to_json() const {
        return {{"dataset", dataset}, {"model", model},       {"widths", widths},       {"randomize", randomize},
                {"train_examples", train_examples}, {"epochs", epochs}, {"steps", steps}, {"batch_size", batch_size},
                {"per_class", per_class}, {"bins", bins}, {"lr", lr}, {"momentum", momentum}, {"whiten", whiten},
                {"eval_only", eval_only}, {"checkpoint", checkpoint}};
    }
};

data::Pipeline pipeline(const Spec& s) {
    data::Pipeline p;
    p.to_float(DType::f32, 1.0 / 255.0);
    if (s.whiten) p.whiten();
    return p;
}

// The first `per_class` examples of each class, in dataset order.
struct Probe {
    std::vector<std::int64_t> indices, labels;
};
Probe first_per_class(const data::Dataset& d, std::int64_t per_class) {
    Probe p;
    std::vector<std::int64_t> seen(std::size_t(d.num_classes), 0);
    const auto labels = d.labels.to_vector<std::int64_t>();
    for (std::size_t i = 0; i < labels.size(); ++i)
        if (seen[std::size_t(labels[i])]++ < per_class) {
            p.indices.push_back(std::int64_t(i));
            p.labels.push_back(labels[i]);
        }
    return p;
}

Tensor gather_images(const data::Dataset& d, const std::vector<std::int64_t>& idx) {
    Shape shape = d.images.shape();
    shape[0] = std::int64_t(idx.size());
    Tensor out = Tensor::empty(shape, d.images.dtype());
    for (std::size_t k = 0; k < idx.size(); ++k) out.narrow(0, std::int64_t(k), 1).copy_(d.images.narrow(0, idx[k], 1));
    return out;
}

json to_json(const Matrix& m) {
    json rows = json::array();
    for (std::int64_t i = 0; i < m.rows; ++i) {
        json r = json::array();
        for (std::int64_t j = 0; j < m.cols; ++j) r.push_back(std::isnan(m(i, j)) ? json(nullptr) : json(m(i, j)));
        rows.push_back(r);
    }
    return rows;
}
json num(double x) { return std::isnan(x) ? json(nullptr) : json(x); }
json opt(std::optional<double> x) { return x ? json(*x) : json(nullptr); }

json curve_json(const DistanceCurve& c) {
    json mean = json::array();
    for (double m : c.mean) mean.push_back(num(m));
    return {{"edges", c.edges}, {"mean", mean}, {"count", c.count}};
}

// Everything measured once: the record for metrics.jsonl (scalars) and the full one for stiffness.json.
struct Measurement {
    json scalars, full;
};

Measurement measure(nn::Module& model, const Tensor& x, const std::vector<std::int64_t>& labels, std::int64_t n_train,
                    std::int64_t K, const Matrix& d_euclid, const Matrix& d_cos, std::int64_t bins) {
    const std::int64_t n = std::int64_t(labels.size());
    const GramResult r = measure_gram(model, x, Tensor::from_vector<std::int64_t>(labels, {n}));
    const PairStiffness s = pair_stiffness(r.gram);
    json sc, full;
    double loss_t = 0, loss_v = 0, acc_t = 0, acc_v = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const bool tr = i < n_train;
        (tr ? loss_t : loss_v) += r.losses[std::size_t(i)];
        (tr ? acc_t : acc_v) += r.predictions[std::size_t(i)] == labels[std::size_t(i)];
    }
    const double nt = double(std::max<std::int64_t>(n_train, 1)), nv = double(std::max<std::int64_t>(n - n_train, 1));
    sc["probe_train_loss"] = loss_t / nt;
    sc["probe_train_accuracy"] = acc_t / nt;
    sc["probe_val_loss"] = loss_v / nv;
    sc["probe_val_accuracy"] = acc_v / nv;
    sc["zero_gradients"] = s.zero_gradients;
    struct Named {
        const char* name;
        const Matrix* m;
    };
    struct Range {
        const char* set;
        std::int64_t b0, b1;
    };
    const Named kinds[] = {{"cosine", &s.cosine}, {"sign", &s.sign}};
    const Named dists[] = {{"euclidean", &d_euclid}, {"cosine", &d_cos}};
    const Range ranges[] = {{"train", 0, n_train}, {"val", n_train, n}};
    for (const auto& [name, m] : kinds) {
        sc[name] = {{"train_train", num(block_mean(*m, 0, n_train, 0, n_train))},
                    {"train_val", num(block_mean(*m, 0, n_train, n_train, n))},
                    {"val_val", num(block_mean(*m, n_train, n, n_train, n))}};
        for (const auto& [set, b0, b1] : ranges) {
            const Matrix c = class_stiffness(*m, labels, K, b0, b1);
            const ClassMeans cm = class_means(c);
            sc[name][std::string(set) + "_within_class"] = num(cm.within);
            sc[name][std::string(set) + "_between_class"] = num(cm.between);
            full["class_stiffness"][set][name] = to_json(c);
        }
        for (const auto& [dname, d] : dists) {
            const DistanceCurve c = stiffness_vs_distance(*m, *d, bins);
            full["distance_curves"][dname][name] = curve_json(c);
            if (std::string(name) == "cosine") {
                sc["xi"][dname] = {{"zero", opt(critical_length(c, 0.0, kMinPairsPerBin))},
                                   {"half", opt(critical_length(c, 0.5 * first_bin_mean(c, kMinPairsPerBin), kMinPairsPerBin))}};
            }
        }
    }
    json norms = json::array();
    for (double q : r.squared_norms) norms.push_back(std::sqrt(std::max(q, 0.0)));
    full["gradient_norms"] = norms;
    full.update(sc);
    return {sc, full};
}

json header(const Spec& s, const std::string& bn) {
    return {{"convention", kConvention}, {"batch_norm_policy", bn}, {"program", "gs-stiffness"}, {"config", s.to_json()}};
}

std::string fmt(const json& v) {
    if (v.is_null()) return "-";
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", v.get<double>());
    return b;
}

void write_report(const fs::path& dir, const Spec& s, const std::vector<json>& recs, const json& summary) {
    std::string r = "# gs-stiffness: " + s.model + " on " + s.dataset + " (" + s.randomize + ")\n\n";
    r += std::string("Convention: ") + kConvention + ". BatchNorm policy: eval_stats (eval-mode statistics during measurement).\n\n";
    r += "Probe sets: the first " + std::to_string(s.per_class) + " examples of each class of the training split (train, labels as trained on) "
         "and of the test split (val). xi: distance (whitened input space) where the binned mean cosine stiffness over all probe pairs "
         "first falls to 0 (xi_0) or to half its first-bin value (xi_1/2), linearly interpolated between bin centers; '-' = not reached.\n\n";
    r += "| step | probe train loss | cos tt | cos tv | cos vv | sign tt | sign tv | sign vv | cos within (train) | cos between (train) | xi_0 eucl | xi_1/2 eucl | xi_1/2 cos-dist |\n";
    r += "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const json& m : recs) {
        r += "| " + std::to_string(m["step"].get<std::int64_t>()) + " | " + fmt(m["probe_train_loss"]) + " | " +
             fmt(m["cosine"]["train_train"]) + " | " + fmt(m["cosine"]["train_val"]) + " | " + fmt(m["cosine"]["val_val"]) + " | " +
             fmt(m["sign"]["train_train"]) + " | " + fmt(m["sign"]["train_val"]) + " | " + fmt(m["sign"]["val_val"]) + " | " +
             fmt(m["cosine"]["train_within_class"]) + " | " + fmt(m["cosine"]["train_between_class"]) + " | " +
             fmt(m["xi"]["euclidean"]["zero"]) + " | " + fmt(m["xi"]["euclidean"]["half"]) + " | " + fmt(m["xi"]["cosine"]["half"]) + " |\n";
    }
    r += "\nWall time " + fmt(summary["wall_seconds"]) + " s. Figures: figures/class_stiffness.png, figures/stiffness_distance.png, "
         "figures/stiffness_blocks.png.\n";
    write_file_atomic(dir / "report.md", r);
}

int eval_only(const Spec& s, const data::Splits& splits, const fs::path& dir) {
    const data::Dataset& test = splits.test;
    const std::int64_t K = test.num_classes;
    const Probe p = first_per_class(test, s.per_class);
    const Tensor x = pipeline(s)(gather_images(test, p.indices), 0, 0, 0);
    auto model = build_classifier_model(s.model, s.widths, 0, x.size(1), x.size(2), x.size(3), K);
    nn::NamedTensors state;
    for (auto& [name, t] : nn::load_safetensors(s.checkpoint).tensors)
        if (name.rfind(nn::kOptimizerPrefix, 0) != 0) state.emplace_back(name, t);
    model->load_state_dict(state);  // strict: names every missing or unexpected tensor
    const std::int64_t n = std::int64_t(p.labels.size());
    const Measurement m = measure(*model, x, p.labels, 0, K, pairwise_distances(x.reshape({n, -1}), Distance::euclidean),
                                  pairwise_distances(x.reshape({n, -1}), Distance::cosine), s.bins);
    json out = header(s, "eval_stats");
    out["checkpoint"] = s.checkpoint;
    out["examples"] = {{"split", "test"}, {"indices", p.indices}, {"labels", p.labels}};
    out["classes"] = K;
    out["sign"] = m.full["class_stiffness"]["val"]["sign"];
    out["cosine"] = m.full["class_stiffness"]["val"]["cosine"];
    out["gradient_norms"] = m.full["gradient_norms"];
    out["within_class"] = {{"sign", m.scalars["sign"]["val_within_class"]}, {"cosine", m.scalars["cosine"]["val_within_class"]}};
    out["between_class"] = {{"sign", m.scalars["sign"]["val_between_class"]}, {"cosine", m.scalars["cosine"]["val_between_class"]}};
    out["pairs"] = {{"sign", m.scalars["sign"]["val_val"]}, {"cosine", m.scalars["cosine"]["val_val"]}};
    out["xi"] = m.scalars["xi"];
    out["distance_curves"] = m.full["distance_curves"];
    write_json_atomic(dir / "stiffness.json", out);
    json summary = header(s, "eval_stats");
    summary["status"] = "complete";
    summary["mode"] = "eval_only";
    summary["within_class"] = out["within_class"];
    summary["between_class"] = out["between_class"];
    write_json_atomic(dir / "summary.json", summary);
    std::printf("eval-only: %lld test examples, cosine within-class %s between-class %s, sign within %s between %s\n", (long long)n,
                fmt(out["within_class"]["cosine"]).c_str(), fmt(out["between_class"]["cosine"]).c_str(),
                fmt(out["within_class"]["sign"]).c_str(), fmt(out["between_class"]["sign"]).c_str());
    std::printf("stiffness: %s\n", (dir / "stiffness.json").c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    return run_main("gs-stiffness", [&]() -> int {
        CLI::App app{"gs-stiffness: stiffness of per-example gradients over training (Fort et al. 2019)", "gs-stiffness"};
        Flags f(app);
        Spec s;
        CommonOptions common;
        add_common_flags(f, common, "quick (10,000 Fashion-MNIST images, 10 epochs of the 2x512 MLP, 20 probes per class; about a minute on 2 cores)");
        f.option("--dataset", s.dataset, "fashion-mnist, mnist, cifar10, cifar100");
        f.option("--data-dir", s.data_dir, "dataset folder (fashion-mnist defaults to Debian's copy)");
        f.option("--train-examples", s.train_examples, "train on the first N training examples (0: all)")->check(CLI::NonNegativeNumber);
        f.option("--randomize", s.randomize, "true_labels or random_labels (training labels, probes included)");
        f.option("--model", s.model, "mlp, alexnet_small, inception_small or inception_small_nobn");
        f.option("--widths", s.widths, "mlp hidden widths, e.g. 512,512");
        f.flag("--whiten", s.whiten, "per-image whitening after scaling to [0, 1]");
        f.option("--lr", s.lr, "SGD learning rate (constant)");
        f.option("--momentum", s.momentum, "SGD momentum");
        f.option("--epochs", s.epochs, "epochs to train (unless --steps)");
        f.option("--steps", s.steps, "optimizer steps to train (0: --epochs worth)");
        f.option("--batch-size", s.batch_size, "minibatch size");
        f.option("--per-class", s.per_class, "probe examples per class from each split");
        f.option("--bins", s.bins, "distance bins of the stiffness-vs-distance curves");
        f.option("--log-every", s.log_every, "steps between loss records");
        f.option("--checkpoint", s.checkpoint, "with --eval-only: the model to measure (a gradscope checkpoint or safetensors state dict)");
        f.flag("--eval-only", s.eval_only, "measure --checkpoint on the first --per-class test examples of each class, no training");

        const std::vector<std::string> args = resume_arguments(argc, argv);
        std::vector<const char*> cargs;
        for (const auto& a : args) cargs.push_back(a.c_str());
        if (int rc = parse_flags(app, int(cargs.size()), cargs.data()); rc >= 0) return rc;
        if (common.preset == "quick") {
            f.preset("--train-examples", s.train_examples, std::int64_t(10000));
            f.preset("--epochs", s.epochs, std::int64_t(10));
            f.preset("--per-class", s.per_class, std::int64_t(20));
        } else GS_CHECK(common.preset.empty(), "--preset: unknown preset '", common.preset, "' (quick)");
        GS_CHECK(common.resume.empty(), "--resume: gs-stiffness does not resume runs yet; start a new run");
        s.validate();
        if (common.runtime.threads > 0) omp_set_num_threads(common.runtime.threads);
        const auto t0 = std::chrono::steady_clock::now();
        auto wall = [&] { return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); };

        const fs::path dir = prepare_run_dir(f, common, "stiffness");
        Progress progress(progress_mode(common.progress), common.runtime.plain_interval_seconds);
        data::Splits raw = data::load_dataset(s.dataset, s.data_dir);
        if (s.eval_only) return eval_only(s, raw, dir);

        if (s.train_examples > 0 && s.train_examples < raw.train.size()) {
            raw.train.images = raw.train.images.narrow(0, 0, s.train_examples);
            raw.train.labels = raw.train.labels.narrow(0, 0, s.train_examples);
        }
        data::Randomization rz;
        rz.kind = data::parse_randomization(s.randomize);
        rz.p = rz.kind == data::RandomizationKind::random_labels ? 1.0 : 0.0;
        rz.seed = common.seed;
        const data::Splits splits = data::randomize(raw, rz).data;
        const std::int64_t K = splits.train.num_classes;

        // ---- probes: train then val, one batch; input distances are fixed, computed once
        const Probe pt = first_per_class(splits.train, s.per_class), pv = first_per_class(splits.test, s.per_class);
        const std::int64_t n_train = std::int64_t(pt.indices.size()), n = n_train + std::int64_t(pv.indices.size());
        std::vector<std::int64_t> labels = pt.labels;
        labels.insert(labels.end(), pv.labels.begin(), pv.labels.end());
        const data::Pipeline pipe = pipeline(s);
        const Tensor xt = pipe(gather_images(splits.train, pt.indices), 0, 0, 0), xv = pipe(gather_images(splits.test, pv.indices), 0, 0, 0);
        Shape shape = xt.shape();
        shape[0] = n;
        Tensor x = Tensor::empty(shape, xt.dtype());
        x.narrow(0, 0, n_train).copy_(xt);
        x.narrow(0, n_train, n - n_train).copy_(xv);
        const Matrix d_euclid = pairwise_distances(x.reshape({n, -1}), Distance::euclidean);
        const Matrix d_cos = pairwise_distances(x.reshape({n, -1}), Distance::cosine);

        auto model = build_classifier_model(s.model, s.widths, common.seed, x.size(1), x.size(2), x.size(3), K);
        nn::SgdOptions so;
        so.lr = s.lr;
        so.momentum = s.momentum;
        nn::SGD sgd(model->named_parameters(), so);
        data::LoaderOptions lo;
        lo.batch_size = s.batch_size;
        lo.seed = common.seed;
        lo.transform = pipe;
        lo.prefetch = 2;
        lo.threads = common.runtime.threads;
        data::Loader loader(splits.train, lo);
        const std::int64_t total = s.steps > 0 ? s.steps : s.epochs * loader.batches_per_epoch();
        std::set<std::int64_t> at{0, total};
        for (std::int64_t k = 1; k < total; k *= 2) at.insert(k);

        progress.line("gs-stiffness: " + s.model + " on " + splits.train.name + ", " + std::to_string(total) + " steps, " +
                      std::to_string(at.size()) + " measurements on " + std::to_string(n) + " probe examples, run folder " + dir.string());
        MetricsLog metrics = MetricsLog::create(dir / "metrics.jsonl");
        // The conventions travel with the metrics too, as their first record.
        metrics.append({{"kind", "header"}, {"step", 0}, {"convention", kConvention},
                        {"batch_norm_policy", nn::batch_norm_policy_name(nn::BatchNormPolicy::eval_stats)}});
        json store = header(s, nn::batch_norm_policy_name(nn::BatchNormPolicy::eval_stats));
        store["classes"] = K;
        store["examples"] = {{"train_indices", pt.indices}, {"val_indices", pv.indices}, {"labels", labels}, {"n_train", n_train}};
        store["measurements"] = json::array();
        std::vector<json> recs;
        double window = 0;
        std::int64_t window_n = 0;
        double measure_seconds = 0;
        model->train();
        for (std::int64_t step = 0;; ++step) {
            if (at.count(step)) {
                const auto m0 = std::chrono::steady_clock::now();
                Measurement m = measure(*model, x, labels, n_train, K, d_euclid, d_cos, s.bins);
                measure_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - m0).count();
                json rec = {{"kind", "stiffness"}, {"step", step}, {"epoch", double(step) / double(loader.batches_per_epoch())}, {"time", wall()}};
                rec.update(m.scalars);
                metrics.append(rec);
                json full = m.full;
                full["step"] = step;
                store["measurements"].push_back(full);
                recs.push_back(rec);
                write_json_atomic(dir / "stiffness.json", store);
                char line[200];
                std::snprintf(line, sizeof line, "step %lld: cosine tt %s tv %s vv %s, within %s between %s, xi_1/2 %s",
                              (long long)step, fmt(rec["cosine"]["train_train"]).c_str(), fmt(rec["cosine"]["train_val"]).c_str(),
                              fmt(rec["cosine"]["val_val"]).c_str(), fmt(rec["cosine"]["train_within_class"]).c_str(),
                              fmt(rec["cosine"]["train_between_class"]).c_str(), fmt(rec["xi"]["euclidean"]["half"]).c_str());
                progress.line(line);
            }
            if (step == total) break;
            const data::Batch b = loader.next();
            const autograd::Variable loss = autograd::mean(autograd::cross_entropy((*model)(autograd::Variable(b.images)), b.labels));
            sgd.zero_grad();
            loss.backward();
            sgd.step();
            const double lv = loss.item();
            GS_CHECK(std::isfinite(lv), "training diverged: the loss is ", lv, " at step ", step + 1, "; try a smaller --lr");
            window += lv;
            ++window_n;
            if ((step + 1) % s.log_every == 0) {
                metrics.append({{"kind", "step"}, {"step", step + 1}, {"time", wall()}, {"lr", s.lr}, {"loss", window / double(window_n)}});
                window = 0;
                window_n = 0;
            }
            ProgressState ps;
            ps.step = step + 1;
            ps.total_steps = total;
            ps.epoch = step / loader.batches_per_epoch();
            ps.epochs = (total + loader.batches_per_epoch() - 1) / loader.batches_per_epoch();
            ps.loss = lv;
            progress.update(ps);
        }
        progress.finish();
        nn::save_checkpoint(dir / "checkpoint.safetensors", *model, sgd, {{"step", total}});

        json summary = header(s, nn::batch_norm_policy_name(nn::BatchNormPolicy::eval_stats));
        summary["status"] = "complete";
        summary["steps"] = total;
        summary["probe_examples"] = {{"train", n_train}, {"val", n - n_train}};
        summary["initial"] = recs.front();
        summary["final"] = recs.back();
        json xi = json::array();
        for (const json& r : recs) xi.push_back({{"step", r["step"]}, {"xi", r["xi"]}});
        summary["xi_over_training"] = xi;
        summary["measure_seconds"] = measure_seconds;
        summary["wall_seconds"] = wall();
        summary["threads"] = omp_get_max_threads();
        write_json_atomic(dir / "summary.json", summary);
        write_report(dir, s, recs, summary);
        if (common.plot) draw_figures("stiffness", dir, progress);
        std::printf("final (step %lld): cosine train-train %s train-val %s val-val %s; between-class %s; %.1f s\n", (long long)total,
                    fmt(recs.back()["cosine"]["train_train"]).c_str(), fmt(recs.back()["cosine"]["train_val"]).c_str(),
                    fmt(recs.back()["cosine"]["val_val"]).c_str(), fmt(recs.back()["cosine"]["train_between_class"]).c_str(), wall());
        std::printf("summary: %s\n", (dir / "summary.json").c_str());
        return 0;
    });
}
