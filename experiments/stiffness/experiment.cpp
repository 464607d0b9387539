// gs-stiffness's experiment: probes, measurements through the runner's hooks, summaries, reports
// and the learning-rate sweep. See experiment.h for the files and records.
#include "experiments/stiffness/experiment.h"

#include <algorithm>
#include <chrono>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <memory>
#include <set>

#include "experiments/runner/run_dir.h"
#include "nn/per_example.h"
#include "tensor/atomic_file.h"
#include "tensor/error.h"

namespace gs::exp::stiffness {

namespace fs = std::filesystem;
using json = nlohmann::json;

const char* const kConvention =
    "a per-example gradient is the gradient of that example's own (cross-entropy) loss over all trainable parameters; "
    "cosine stiffness = g_i.g_j / (|g_i||g_j|), 0 when either gradient is zero; sign stiffness = sign(g_i.g_j) with "
    "sign(0) = 0; pairs i == j are excluded from every mean";

namespace {

constexpr std::int64_t kMinPairsPerBin = 10;  // bins thinner than this are not used for xi

struct Probe {
    std::vector<std::int64_t> indices, labels;
};

// The first `per_class` examples of each class, in dataset order.
Probe first_per_class(const data::Dataset& d, std::int64_t per_class) {
    Probe p;
    if (d.size() == 0) return p;
    std::vector<std::int64_t> seen(std::size_t(d.num_classes), 0);
    const auto labels = d.labels.to_vector<std::int64_t>();
    for (std::size_t i = 0; i < labels.size(); ++i)
        if (seen[std::size_t(labels[i])]++ < per_class) {
            p.indices.push_back(std::int64_t(i));
            p.labels.push_back(labels[i]);
        }
    return p;
}

Tensor gather(const Tensor& t, const std::vector<std::int64_t>& idx) {
    Shape shape = t.shape();
    shape[0] = std::int64_t(idx.size());
    Tensor out = Tensor::empty(shape, t.dtype());
    for (std::size_t k = 0; k < idx.size(); ++k) out.narrow(0, std::int64_t(k), 1).copy_(t.narrow(0, idx[k], 1));
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
double as_double(const json& v) { return v.is_number() ? v.get<double>() : std::nan(""); }

json curve_json(const DistanceCurve& c) {
    json mean = json::array();
    for (double m : c.mean) mean.push_back(num(m));
    return {{"edges", c.edges}, {"mean", mean}, {"count", c.count}};
}

std::string fmt(const json& v) {
    if (!v.is_number()) return "-";
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", v.get<double>());
    return b;
}

// What the hooks keep between calls: the probes, the schedule and the measurements so far.
struct Recorder {
    ClassifierSpec spec;
    ProbeOptions opt;
    std::filesystem::path dir;
    ProbeSet probes;
    std::set<std::int64_t> at;
    json store;  // stiffness.json
    double measure_seconds = 0;

    json header() const {
        return {{"convention", kConvention},
                {"batch_norm_policy", nn::batch_norm_policy_name(nn::BatchNormPolicy::eval_stats)},
                {"program", "gs-stiffness"},
                {"config", spec.to_json()},
                {"probes", opt.to_json()}};
    }

    void start(const StepInfo& info, const json* state) {
        probes = make_probes(info.data, classifier_pipeline(spec, false), opt.per_class);
        const auto steps = measurement_steps(info.total_steps);
        at = std::set<std::int64_t>(steps.begin(), steps.end());
        const fs::path path = dir / "stiffness.json";
        if (state) {
            // Resumed: keep the measurements up to the checkpoint's step (the hook wrote them before
            // that checkpoint); a later one can only be left over from a run killed without a checkpoint.
            store = read_json(path);
            json kept = json::array();
            for (const json& m : store.at("measurements"))
                if (m.at("step").get<std::int64_t>() <= info.step) kept.push_back(m);
            store["measurements"] = kept;
            measure_seconds = state->is_object() ? state->value("measure_seconds", 0.0) : 0.0;
            write_json_atomic(path, store);
            return;
        }
        store = header();
        store["classes"] = probes.classes;
        store["coarse_classes"] = probes.coarse_classes;
        store["examples"] = {{"train_indices", probes.train_indices}, {"val_indices", probes.val_indices},
                             {"labels", probes.labels},               {"n_train", probes.n_train}};
        if (!probes.coarse.empty()) store["examples"]["coarse_labels"] = probes.coarse;
        store["measurements"] = json::array();
        info.metrics.append({{"kind", "stiffness_header"},
                             {"step", 0},
                             {"convention", kConvention},
                             {"batch_norm_policy", nn::batch_norm_policy_name(nn::BatchNormPolicy::eval_stats)},
                             {"probe_examples", probes.size()}});
        step(info);
    }

    void step(const StepInfo& info) {
        if (!at.count(info.step)) return;
        const auto t0 = std::chrono::steady_clock::now();
        Measurement m = measure(info.model, probes, opt);
        measure_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        json rec = {{"kind", "stiffness"},
                    {"step", info.step},
                    {"epoch", double(info.step) / double(info.steps_per_epoch)},
                    {"time", info.wall_seconds}};
        rec.update(m.scalars);
        info.metrics.append(rec);
        m.full["step"] = info.step;
        store["measurements"].push_back(m.full);
        write_json_atomic(dir / "stiffness.json", store);
        char line[200];
        std::snprintf(line, sizeof line, "step %lld: cosine tt %s tv %s vv %s, within %s between %s, xi_1/2 %s",
                      (long long)info.step, fmt(rec["cosine"]["train_train"]).c_str(), fmt(rec["cosine"]["train_val"]).c_str(),
                      fmt(rec["cosine"]["val_val"]).c_str(), fmt(rec["cosine"]["train_within_class"]).c_str(),
                      fmt(rec["cosine"]["train_between_class"]).c_str(), fmt(rec["xi"]["euclidean"]["half"]).c_str());
        info.progress.line(line);
    }
};

// The {"kind": "stiffness"} records of a run folder, in order.
std::vector<json> stiffness_records(const fs::path& dir) {
    std::vector<json> out;
    for (json& r : read_metrics(dir / "metrics.jsonl"))
        if (r.value("kind", "") == "stiffness") out.push_back(std::move(r));
    return out;
}

void write_run_report(const fs::path& dir, const ClassifierSpec& s, const ProbeOptions& o, const std::vector<json>& recs,
                      const json& summary) {
    const bool super = !recs.empty() && recs.front()["cosine"].contains("train_within_superclass");
    std::string r = "# gs-stiffness: " + s.model + " on " + s.dataset + " (" + s.randomize + "), lr " + fmt(json(s.lr)) + "\n\n";
    r += std::string("Convention: ") + kConvention + ". BatchNorm policy: eval_stats (eval-mode statistics during measurement).\n\n";
    // A class with fewer than per_class examples (a small or randomly relabelled split) gives all it
    // has, so the counts are stated rather than implied.
    r += "Probe sets: the first " + std::to_string(o.per_class) +
         " examples of each class (all of a class that has fewer) of the training split (train, labels as trained "
         "on: " + summary["probe_examples"]["train"].dump() + " examples) and of the test split (val: " +
         summary["probe_examples"]["val"].dump() + "), through the evaluation pipeline (center crop " +
         std::to_string(s.crop) + (s.whiten ? ", whitening" : "") +
         "). xi: distance (input space as the model sees it) where the binned mean cosine stiffness over all probe "
         "pairs first falls to 0 (xi_0) or to half its first-bin value (xi_1/2), linearly interpolated between bin centers; "
         "'-' = not reached.\n\n";
    r += "| step | probe train loss | cos tt | cos tv | cos vv | sign tt | sign tv | sign vv | cos within (train) | cos between (train) | xi_0 eucl | xi_1/2 eucl | xi_1/2 cos-dist |\n";
    r += "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const json& m : recs) {
        r += "| " + std::to_string(m["step"].get<std::int64_t>()) + " | " + fmt(m["probe_train_loss"]) + " | " +
             fmt(m["cosine"]["train_train"]) + " | " + fmt(m["cosine"]["train_val"]) + " | " + fmt(m["cosine"]["val_val"]) + " | " +
             fmt(m["sign"]["train_train"]) + " | " + fmt(m["sign"]["train_val"]) + " | " + fmt(m["sign"]["val_val"]) + " | " +
             fmt(m["cosine"]["train_within_class"]) + " | " + fmt(m["cosine"]["train_between_class"]) + " | " +
             fmt(m["xi"]["euclidean"]["zero"]) + " | " + fmt(m["xi"]["euclidean"]["half"]) + " | " + fmt(m["xi"]["cosine"]["half"]) + " |\n";
    }
    if (super) {
        r += "\nSuper-classes (the dataset's coarse labels, never randomized): cosine stiffness of train probe pairs grouped by "
             "super-class, and the fine between-class cells split by whether the two fine classes share a super-class "
             "('-' when the fine labels do not determine the super-class, e.g. random labels).\n\n";
        r += "| step | within super-class | between super-classes | fine between, same super-class | fine between, other super-class |\n";
        r += "|---:|---:|---:|---:|---:|\n";
        for (const json& m : recs)
            r += "| " + std::to_string(m["step"].get<std::int64_t>()) + " | " + fmt(m["cosine"]["train_within_superclass"]) + " | " +
                 fmt(m["cosine"]["train_between_superclass"]) + " | " + fmt(m["cosine"]["train_between_class_same_superclass"]) +
                 " | " + fmt(m["cosine"]["train_between_class_other_superclass"]) + " |\n";
    }
    const json& fe = summary["final_eval"];
    if (fe.is_object())
        r += "\nFinal evaluation (runner, eval mode): train loss " + fmt(fe["train_loss"]) + ", accuracy " + fmt(fe["train_accuracy"]) +
             "; test loss " + fmt(fe["test_loss"]) + ", accuracy " + fmt(fe["test_accuracy"]) + ".\n";
    r += "\nWall time " + fmt(summary["wall_seconds"]) + " s (measurements " + fmt(summary["measure_seconds"]) +
         " s). Figures: figures/class_stiffness.png, figures/stiffness_distance.png, figures/stiffness_blocks.png" +
         (super ? ", figures/superclass_stiffness.png" : "") + ".\n";
    write_file_atomic(dir / "report.md", r);
}

// Completes summary.json and writes report.md from the run folder (idempotent: a completed run
// resumed again rewrites the same values).
json finish_run(const fs::path& dir, const ClassifierSpec& s, const ProbeOptions& o, json summary, double measure_seconds) {
    const std::vector<json> recs = stiffness_records(dir);
    GS_CHECK(!recs.empty(), dir.string(), "/metrics.jsonl: no stiffness records");
    if (!summary.contains("final_eval")) summary["final_eval"] = summary["final"];
    summary["convention"] = kConvention;
    summary["batch_norm_policy"] = nn::batch_norm_policy_name(nn::BatchNormPolicy::eval_stats);
    summary["program"] = "gs-stiffness";
    summary["probes"] = o.to_json();
    const json store = read_json(dir / "stiffness.json");
    const std::int64_t n_train = store["examples"]["n_train"].get<std::int64_t>();
    summary["probe_examples"] = {{"train", n_train}, {"val", std::int64_t(store["examples"]["labels"].size()) - n_train}};
    summary["initial"] = recs.front();
    summary["final"] = recs.back();
    json over = json::array();
    for (const json& r : recs) {
        json e = {{"step", r["step"]}, {"probe_train_loss", r["probe_train_loss"]}, {"xi", r["xi"]}};
        for (const char* kind : {"cosine", "sign"})
            for (const char* key : {"train_within_class", "train_between_class", "train_within_superclass", "train_between_superclass"})
                if (r[kind].contains(key)) e[kind][key] = r[kind][key];
        over.push_back(e);
    }
    summary["over_training"] = over;
    if (measure_seconds >= 0) summary["measure_seconds"] = measure_seconds;
    write_json_atomic(dir / "summary.json", summary);
    write_run_report(dir, s, o, recs, summary);
    return summary;
}

}  // namespace

void ProbeOptions::validate() const {
    GS_CHECK(per_class >= 1, "--per-class: must be at least 1, got ", per_class);
    GS_CHECK(bins >= 1, "--bins: must be at least 1, got ", bins);
    GS_CHECK(chunk >= 0, "--probe-chunk: must not be negative, got ", chunk);
}

json ProbeOptions::to_json() const { return {{"per_class", per_class}, {"bins", bins}, {"chunk", chunk}}; }

ProbeSet make_probes(const data::Splits& splits, const data::Pipeline& pipe, std::int64_t per_class) {
    const Probe pt = first_per_class(splits.train, per_class), pv = first_per_class(splits.test, per_class);
    GS_CHECK(!pt.indices.empty(), "stiffness probes: the training split is empty");
    ProbeSet p;
    p.train_indices = pt.indices;
    p.val_indices = pv.indices;
    p.n_train = std::int64_t(pt.indices.size());
    p.classes = splits.train.num_classes;
    p.labels = pt.labels;
    p.labels.insert(p.labels.end(), pv.labels.begin(), pv.labels.end());
    const bool coarse = splits.train.coarse_labels.defined() && (pv.indices.empty() || splits.test.coarse_labels.defined());
    if (coarse) {
        p.coarse = gather(splits.train.coarse_labels, pt.indices).to_vector<std::int64_t>();
        if (!pv.indices.empty()) {
            const auto cv = gather(splits.test.coarse_labels, pv.indices).to_vector<std::int64_t>();
            p.coarse.insert(p.coarse.end(), cv.begin(), cv.end());
        }
        p.coarse_classes = splits.train.coarse_class_names.empty()
                               ? *std::max_element(p.coarse.begin(), p.coarse.end()) + 1
                               : std::int64_t(splits.train.coarse_class_names.size());
    }
    const Tensor xt = pipe(gather(splits.train.images, pt.indices), 0, 0, 0);
    const std::int64_t n = p.size();
    Shape shape = xt.shape();
    shape[0] = n;
    p.x = Tensor::empty(shape, xt.dtype());
    p.x.narrow(0, 0, p.n_train).copy_(xt);
    if (!pv.indices.empty()) p.x.narrow(0, p.n_train, n - p.n_train).copy_(pipe(gather(splits.test.images, pv.indices), 0, 0, 0));
    p.d_euclid = pairwise_distances(p.x.reshape({n, -1}), Distance::euclidean);
    p.d_cos = pairwise_distances(p.x.reshape({n, -1}), Distance::cosine);
    return p;
}

Measurement measure(nn::Module& model, const ProbeSet& p, const ProbeOptions& o) {
    const std::int64_t n = p.size(), n_train = p.n_train, K = p.classes;
    const GramResult r = measure_gram(model, p.x, Tensor::from_vector<std::int64_t>(p.labels, {n}), o.chunk);
    const PairStiffness s = pair_stiffness(r.gram);
    json sc, full;
    double loss_t = 0, loss_v = 0, acc_t = 0, acc_v = 0;
    for (std::int64_t i = 0; i < n; ++i) {
        const bool tr = i < n_train;
        (tr ? loss_t : loss_v) += r.losses[std::size_t(i)];
        (tr ? acc_t : acc_v) += r.predictions[std::size_t(i)] == p.labels[std::size_t(i)];
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
    const Named dists[] = {{"euclidean", &p.d_euclid}, {"cosine", &p.d_cos}};
    const Range ranges[] = {{"train", 0, n_train}, {"val", n_train, n}};
    // Fine -> super-class map of the probes (none when random fine labels break it).
    std::optional<std::vector<std::int64_t>> f2c;
    if (!p.coarse.empty()) f2c = fine_to_coarse(p.labels, p.coarse, K);
    for (const auto& [name, m] : kinds) {
        sc[name] = {{"train_train", num(block_mean(*m, 0, n_train, 0, n_train))},
                    {"train_val", num(block_mean(*m, 0, n_train, n_train, n))},
                    {"val_val", num(block_mean(*m, n_train, n, n_train, n))}};
        for (const auto& [set, b0, b1] : ranges) {
            const std::string prefix = set;
            const Matrix c = class_stiffness(*m, p.labels, K, b0, b1);
            const ClassMeans cm = class_means(c);
            sc[name][prefix + "_within_class"] = num(cm.within);
            sc[name][prefix + "_between_class"] = num(cm.between);
            full["class_stiffness"][set][name] = to_json(c);
            if (p.coarse.empty()) continue;
            const Matrix cc = class_stiffness(*m, p.coarse, p.coarse_classes, b0, b1);
            const ClassMeans ccm = class_means(cc);
            sc[name][prefix + "_within_superclass"] = num(ccm.within);
            sc[name][prefix + "_between_superclass"] = num(ccm.between);
            const SuperclassSplit split = f2c ? superclass_split(c, *f2c) : SuperclassSplit{std::nan(""), std::nan("")};
            sc[name][prefix + "_between_class_same_superclass"] = num(split.same);
            sc[name][prefix + "_between_class_other_superclass"] = num(split.other);
            full["superclass_stiffness"][set][name] = to_json(cc);
        }
        for (const auto& [dname, d] : dists) {
            const DistanceCurve c = stiffness_vs_distance(*m, *d, o.bins);
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

std::vector<std::int64_t> measurement_steps(std::int64_t total) {
    std::set<std::int64_t> at{0, total};
    for (std::int64_t k = 1; k < total; k *= 2) at.insert(k);
    return {at.begin(), at.end()};
}

ClassifierResult run_stiffness(const ClassifierSpec& spec, const ProbeOptions& probes, const RuntimeOptions& rt,
                               const fs::path& dir, bool resume, Progress& progress, const data::Splits* data) {
    probes.validate();
    auto rec = std::make_shared<Recorder>();
    rec->spec = spec;
    rec->opt = probes;
    rec->dir = dir;
    TrainHooks hooks;
    hooks.on_start = [rec](const StepInfo& info, const json* state) { rec->start(info, state); };
    hooks.on_step = [rec](const StepInfo& info) { rec->step(info); };
    hooks.state = [rec] { return json{{"measure_seconds", rec->measure_seconds}}; };
    ClassifierResult r = train_classifier(spec, rt, dir, resume, progress, data, hooks);
    if (r.status != "complete") return r;
    // A run found complete (no hook ran) keeps the measure_seconds its summary already holds.
    const bool ran = !rec->at.empty();
    r.summary = finish_run(dir, spec, probes, r.summary, ran ? rec->measure_seconds : -1);
    return r;
}

std::string lr_dir_name(double lr) {
    char b[64];
    const auto res = std::to_chars(b, b + sizeof b, lr);
    return "lr-" + std::string(b, res.ptr);
}

std::string direction(const std::vector<double>& v) {
    if (v.size() < 2) return "is undetermined";
    bool up = true, down = true;
    for (std::size_t k = 0; k + 1 < v.size(); ++k) {
        if (std::isnan(v[k]) || std::isnan(v[k + 1])) return "is undetermined";
        up = up && v[k + 1] > v[k];
        down = down && v[k + 1] < v[k];
    }
    return up ? "increases" : down ? "decreases" : "is not monotonic";
}

ClassifierResult run_lr_sweep(const ClassifierSpec& spec, const std::vector<double>& lrs, const ProbeOptions& probes,
                              const RuntimeOptions& rt, const fs::path& dir, bool resume, Progress& progress,
                              const data::Splits* data) {
    GS_CHECK(!lrs.empty(), "--lrs: no learning rate given");
    std::vector<double> sorted = lrs;
    std::sort(sorted.begin(), sorted.end());
    GS_CHECK(std::adjacent_find(sorted.begin(), sorted.end()) == sorted.end(), "--lrs: a learning rate is listed twice");
    data::Splits loaded;
    if (!data) {
        loaded = load_classifier_data(spec);
        data = &loaded;
    }
    json runs = json::array();
    for (double lr : sorted) {
        ClassifierSpec s = spec;
        s.lr = lr;
        const fs::path sub = dir / lr_dir_name(lr);
        progress.line("gs-stiffness: lr " + fmt(json(lr)) + " in " + sub.string());
        // Resuming a sweep: each rate continues its own checkpoint, or starts when it never ran.
        const bool started = fs::exists(sub / "checkpoint.safetensors");
        const ClassifierResult r = run_stiffness(s, probes, rt, sub, resume && started, progress, data);
        if (r.status != "complete") return r;
        json e = {{"lr", lr}, {"dir", lr_dir_name(lr)}, {"initial", r.summary["initial"]}, {"final", r.summary["final"]},
                  {"over_training", r.summary["over_training"]}, {"final_eval", r.summary["final_eval"]},
                  {"wall_seconds", r.summary["wall_seconds"]}};
        runs.push_back(e);
    }
    json summary = {{"program", "gs-stiffness"},
                    {"mode", "lr_sweep"},
                    {"status", "complete"},
                    {"convention", kConvention},
                    {"batch_norm_policy", nn::batch_norm_policy_name(nn::BatchNormPolicy::eval_stats)},
                    {"config", spec.to_json()},
                    {"probes", probes.to_json()},
                    {"lrs", sorted},
                    {"runs", runs}};
    // How each final value moves with the learning rate, as measured.
    struct Quantity {
        const char* key;  // into summary["direction"]
        const char* label;
        std::function<json(const json&)> get;
    };
    const Quantity qs[] = {
        {"cosine_train_within_class", "within-class cosine stiffness (train probes)",
         [](const json& m) { return m["cosine"]["train_within_class"]; }},
        {"cosine_train_between_class", "between-class cosine stiffness (train probes)",
         [](const json& m) { return m["cosine"]["train_between_class"]; }},
        {"cosine_train_val", "train-val cosine stiffness", [](const json& m) { return m["cosine"]["train_val"]; }},
        {"xi_half_euclidean", "xi_1/2 (euclidean)", [](const json& m) { return m["xi"]["euclidean"]["half"]; }},
        {"xi_zero_euclidean", "xi_0 (euclidean)", [](const json& m) { return m["xi"]["euclidean"]["zero"]; }},
        {"xi_half_cosine", "xi_1/2 (cosine distance)", [](const json& m) { return m["xi"]["cosine"]["half"]; }},
        {"xi_zero_cosine", "xi_0 (cosine distance)", [](const json& m) { return m["xi"]["cosine"]["zero"]; }},
    };
    std::string r = "# gs-stiffness learning-rate sweep: " + spec.model + " on " + spec.dataset + " (" + spec.randomize + ")\n\n";
    r += std::string("Convention: ") + kConvention + ". One run per learning rate (same seed, data order and probes), "
         "each in its own folder with its own report.md. papers.md §2.3: the paper's versions disagree on the direction "
         "(v1: larger lr, larger critical length; later versions: larger lr, smaller critical length and lower stiffness); "
         "below is what this run measured.\n\n";
    r += "| lr | final probe train loss | final test acc | cos within (train) | cos between (train) | max between over training | "
         "cos train-val | xi_0 eucl | xi_1/2 eucl | xi_0 cos-dist | xi_1/2 cos-dist |\n";
    r += "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n";
    for (const json& e : runs) {
        double max_between = std::nan("");
        for (const json& o : e["over_training"]) {
            const double b = as_double(o["cosine"]["train_between_class"]);
            if (!std::isnan(b) && (std::isnan(max_between) || b > max_between)) max_between = b;
        }
        const json& f = e["final"];
        r += "| " + fmt(e["lr"]) + " | " + fmt(f["probe_train_loss"]) + " | " + fmt(e["final_eval"]["test_accuracy"]) + " | " +
             fmt(f["cosine"]["train_within_class"]) + " | " + fmt(f["cosine"]["train_between_class"]) + " | " + fmt(num(max_between)) +
             " | " + fmt(f["cosine"]["train_val"]) + " | " + fmt(f["xi"]["euclidean"]["zero"]) + " | " +
             fmt(f["xi"]["euclidean"]["half"]) + " | " + fmt(f["xi"]["cosine"]["zero"]) + " | " + fmt(f["xi"]["cosine"]["half"]) + " |\n";
    }
    r += "\nAt the end of training, as the learning rate grows:\n\n";
    for (const Quantity& q : qs) {
        std::vector<double> v;
        for (const json& e : runs) v.push_back(as_double(q.get(e["final"])));
        const std::string d = direction(v);
        summary["direction"][q.key] = d;
        r += std::string("- ") + q.label + " " + d + "\n";
    }
    // Over training: every rate is measured at the same steps (same data, epochs and schedule).
    r += "\nOver training, cosine stiffness of the train probes, within-class / between-class, and xi_1/2 (euclidean):\n\n| step |";
    std::string rule = "|---:|";
    for (const json& e : runs) {
        r += " lr " + fmt(e["lr"]) + " within / between | xi_1/2 |";
        rule += "---:|---:|";
    }
    r += "\n" + rule + "\n";
    const json& steps = runs[0]["over_training"];
    for (std::size_t k = 0; k < steps.size(); ++k) {
        r += "| " + std::to_string(steps[k]["step"].get<std::int64_t>()) + " |";
        for (const json& e : runs) {
            const json o = k < e["over_training"].size() ? e["over_training"][k] : json::object();
            auto field = [&o](const char* path) {
                const json::json_pointer p(path);
                return o.contains(p) ? o.at(p) : json();
            };
            // Appends one at a time: GCC 12 warns (-Wrestrict, a false positive) on the chained form.
            r += ' ';
            r += fmt(field("/cosine/train_within_class"));
            r += " / ";
            r += fmt(field("/cosine/train_between_class"));
            r += " | ";
            r += fmt(field("/xi/euclidean/half"));
            r += " |";
        }
        r += "\n";
    }
    r += "\nA different number of steps or seed can change these; the curves are in figures/stiffness_lr.png.\n";
    write_json_atomic(dir / "summary.json", summary);
    write_file_atomic(dir / "report.md", r);
    return {"complete", 0, summary};
}

}  // namespace gs::exp::stiffness
