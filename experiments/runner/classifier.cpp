// The shared classification training loop; see classifier.h for the files and the resume contract.
#include "experiments/runner/classifier.h"

#include <omp.h>

#include <chrono>
#include <cmath>
#include <csignal>
#include <memory>
#include <set>

#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "autograd/variable.h"
#include "data/datasets.h"
#include "data/loader.h"
#include "data/randomize.h"
#include "data/transforms.h"
#include "experiments/runner/interrupt.h"
#include "experiments/runner/run_dir.h"
#include "kernels/cuda_settings.h"
#include "kernels/reduce.h"
#include "nn/checkpoint.h"
#include "nn/models.h"
#include "nn/optim.h"
#include "nn/schedule.h"
#include "tensor/atomic_file.h"
#include "tensor/device.h"
#include "tensor/error.h"

namespace gs::exp {

namespace fs = std::filesystem;
using autograd::Variable;

namespace {

// Philox stream of the weight initialization ("INIT"); the loader and randomizations have theirs.
constexpr std::uint64_t kInitStream = 0x494E4954ull << 32;

const std::set<std::string> kModels{"mlp", "alexnet_small", "inception_small", "inception_small_nobn"};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

std::string join(const std::set<std::string>& names) {
    std::string out;
    for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
    return out;
}

data::Dataset first_n(const data::Dataset& d, std::int64_t n) {
    if (n <= 0 || n >= d.size()) return d;
    data::Dataset out = d;
    out.images = d.images.narrow(0, 0, n);
    out.labels = d.labels.narrow(0, 0, n);
    if (d.coarse_labels.defined()) out.coarse_labels = d.coarse_labels.narrow(0, 0, n);
    return out;
}

std::unique_ptr<nn::Optimizer> build_optimizer(const ClassifierSpec& spec, nn::Module& model) {
    if (spec.optimizer == "adam") {
        nn::AdamOptions o;
        o.lr = spec.lr;
        o.weight_decay = spec.weight_decay;
        return std::make_unique<nn::Adam>(model.named_parameters(), o);
    }
    nn::SgdOptions o;
    o.lr = spec.lr;
    o.momentum = spec.momentum;
    o.nesterov = spec.nesterov;
    o.weight_decay = spec.weight_decay;
    return std::make_unique<nn::SGD>(model.named_parameters(), o);
}

nn::LrSchedule build_schedule(const ClassifierSpec& spec, std::int64_t steps_per_epoch) {
    if (spec.schedule == "constant") return nn::LrSchedule::constant(spec.lr);
    if (spec.schedule == "step") return nn::LrSchedule::step_decay(spec.lr, spec.step_epochs, spec.gamma);
    if (spec.schedule == "exponential") return nn::LrSchedule::exponential(spec.lr, spec.gamma);
    return nn::LrSchedule::cosine(spec.lr, spec.epochs, 0.0, steps_per_epoch);
}

// Per-example losses (N) of a batch.
Variable per_example_loss(const ClassifierSpec& spec, const Variable& logits, const Tensor& labels) {
    if (spec.loss == "hinge") return autograd::multiclass_hinge(logits, labels);
    return autograd::cross_entropy(logits, labels);
}

// logits on the model's device, labels on the CPU.
// With `wrong`, the dataset positions (`indices`, i64) of the misclassified examples are appended.
std::int64_t count_correct(const Tensor& logits, const Tensor& labels, std::vector<std::int64_t>* wrong = nullptr,
                           const Tensor* indices = nullptr) {
    const auto pred = kernels::argmax(logits, 1).to(Device::cpu()).to_vector<std::int64_t>();
    const auto truth = labels.to_vector<std::int64_t>();
    std::int64_t c = 0;
    for (std::size_t i = 0; i < pred.size(); ++i) {
        c += pred[i] == truth[i];
        if (wrong && pred[i] != truth[i]) wrong->push_back(indices->data<std::int64_t>()[i]);
    }
    return c;
}

// A run that stops a few examples short of 100% training accuracy names them, so a researcher can
// look at what resists fitting (near-duplicate images with different labels, say); beyond this
// many the list says nothing a count does not.
constexpr std::size_t kListMisclassified = 20;

struct Eval {
    double loss = 0, accuracy = 0;
    std::vector<std::int64_t> misclassified;  // split indices, in order
    bool complete = true;  // false: stopped at the first misclassified example; loss and accuracy unknown
};

// Loss and accuracy of the whole split in eval mode, in chunks (no augmentation), or with
// `until_error` only whether it is all classified right: then the pass ends after the first chunk
// with a mistake. Batches are moved to `device`, where the model is.
Eval evaluate(const ClassifierSpec& spec, nn::Module& model, const data::Dataset& split, Device device,
              bool until_error = false) {
    if (split.size() == 0) return {};
    autograd::NoGradGuard no_grad;
    const bool was_training = model.is_training();
    model.eval();
    data::LoaderOptions lo;
    lo.batch_size = 500;
    lo.shuffle = false;
    lo.prefetch = 0;
    lo.transform = classifier_pipeline(spec, false);
    data::Loader loader(split.images, split.labels, lo);
    double loss_sum = 0;
    std::int64_t correct = 0;
    std::vector<std::int64_t> wrong;
    for (std::int64_t b = 0; b < loader.batches_per_epoch(); ++b) {
        const data::Batch batch = loader.make_batch(0, b);
        const Variable logits = model(Variable(batch.images.to(device)));
        const Tensor losses = per_example_loss(spec, logits, batch.labels.to(device)).value().to(Device::cpu());
        for (double x : losses.to(DType::f64).to_vector<double>()) loss_sum += x;
        correct += count_correct(logits.value(), batch.labels, &wrong, &batch.indices);
        if (until_error && !wrong.empty()) {
            model.train(was_training);
            return {0, 0, {}, false};
        }
    }
    model.train(was_training);
    return {loss_sum / double(split.size()), double(correct) / double(split.size()), std::move(wrong)};
}

// Running sums of minibatch loss and accuracy.
struct Window {
    double loss_sum = 0;
    std::int64_t correct = 0, count = 0, batches = 0;
    void add(double mean_loss, std::int64_t c, std::int64_t n) {
        loss_sum += mean_loss * double(n);
        correct += c;
        count += n;
        ++batches;
    }
    double loss() const { return count ? loss_sum / double(count) : 0.0; }
    double accuracy() const { return count ? double(correct) / double(count) : 0.0; }
    nlohmann::json to_json() const { return {{"loss_sum", loss_sum}, {"correct", correct}, {"count", count}, {"batches", batches}}; }
    static Window from_json(const nlohmann::json& j) {
        Window w;
        w.loss_sum = j.at("loss_sum").get<double>();
        w.correct = j.at("correct").get<std::int64_t>();
        w.count = j.at("count").get<std::int64_t>();
        w.batches = j.at("batches").get<std::int64_t>();
        return w;
    }
};

// Everything of the loop that a checkpoint must carry besides model and optimizer.
struct LoopState {
    std::int64_t epoch = 0, batch = 0, step = 0;  // the next batch to run: (epoch, batch)
    Window window, epoch_window;
    double best_test_accuracy = -1;
    std::int64_t best_epoch = -1, best_step = -1;
    std::optional<std::int64_t> first_fit_step, first_fit_epoch;
    double train_seconds = 0, wall_seconds = 0;
    std::int64_t examples = 0;
    nlohmann::json last_eval = nullptr;

    nlohmann::json to_json() const {
        return {{"epoch", epoch},
                {"batch", batch},
                {"step", step},
                {"window", window.to_json()},
                {"epoch_window", epoch_window.to_json()},
                {"best_test_accuracy", best_test_accuracy},
                {"best_epoch", best_epoch},
                {"best_step", best_step},
                {"first_fit_step", first_fit_step ? nlohmann::json(*first_fit_step) : nlohmann::json(nullptr)},
                {"first_fit_epoch", first_fit_epoch ? nlohmann::json(*first_fit_epoch) : nlohmann::json(nullptr)},
                {"train_seconds", train_seconds},
                {"wall_seconds", wall_seconds},
                {"examples", examples},
                {"last_eval", last_eval}};
    }
    static LoopState from_json(const nlohmann::json& j) {
        LoopState s;
        s.epoch = j.at("epoch").get<std::int64_t>();
        s.batch = j.at("batch").get<std::int64_t>();
        s.step = j.at("step").get<std::int64_t>();
        s.window = Window::from_json(j.at("window"));
        s.epoch_window = Window::from_json(j.at("epoch_window"));
        s.best_test_accuracy = j.at("best_test_accuracy").get<double>();
        s.best_epoch = j.at("best_epoch").get<std::int64_t>();
        s.best_step = j.at("best_step").get<std::int64_t>();
        if (!j.at("first_fit_step").is_null()) s.first_fit_step = j["first_fit_step"].get<std::int64_t>();
        if (!j.at("first_fit_epoch").is_null()) s.first_fit_epoch = j["first_fit_epoch"].get<std::int64_t>();
        s.train_seconds = j.at("train_seconds").get<double>();
        s.wall_seconds = j.at("wall_seconds").get<double>();
        s.examples = j.at("examples").get<std::int64_t>();
        s.last_eval = j.at("last_eval");
        return s;
    }
};

}  // namespace

Device check_device(const RuntimeOptions& rt) {
    const Device d = Device::parse(rt.device);
    if (d.is_cpu()) return d;
    GS_CHECK(cuda_built(), "--device ", rt.device, ": this build has no CUDA backend (configure with the CUDA toolkit)");
    const int count = cuda_device_count();
    GS_CHECK(count > 0, "--device ", rt.device, ": no CUDA device found");
    GS_CHECK(d.index < count, "--device ", rt.device, ": this machine has ", count, " CUDA device(s), cuda:0 to cuda:", count - 1);
    return d;
}

data::Pipeline classifier_pipeline(const ClassifierSpec& spec, bool train) {
    data::Pipeline p;
    if (train && spec.random_crop) {
        if (spec.pad > 0) p.pad(spec.pad);
        p.random_crop(spec.crop, spec.crop);
    }
    else p.center_crop(spec.crop, spec.crop);
    p.to_float(DType::f32, 1.0 / 255.0);
    if (spec.whiten) p.whiten();
    return p;
}

void ClassifierSpec::validate() const {
    std::set<std::string> datasets(data::known_datasets().begin(), data::known_datasets().end());
    GS_CHECK(datasets.count(dataset), "--dataset: unknown dataset '", dataset, "' (known datasets: ", join(datasets), ")");
    GS_CHECK(kModels.count(model), "--model: unknown model '", model, "' (known models: ", join(kModels), ")");
    data::parse_randomization(randomize);  // throws naming the valid kinds
    GS_CHECK(corrupt_prob >= 0 && corrupt_prob <= 1, "--corrupt-prob: must lie in [0, 1], got ", corrupt_prob);
    GS_CHECK(randomize != "partial_labels" || corrupt_prob > 0, "--randomize partial_labels needs --corrupt-prob P > 0");
    GS_CHECK(train_examples >= 0, "--train-examples: must not be negative, got ", train_examples);
    GS_CHECK(test_examples >= 0, "--test-examples: must not be negative, got ", test_examples);
    GS_CHECK(crop >= 1, "--crop: must be at least 1, got ", crop);
    GS_CHECK(pad >= 0, "--pad: must not be negative, got ", pad);
    GS_CHECK(pad == 0 || random_crop, "--pad is the room for --random-crop; give both");
    GS_CHECK(model != "mlp" || !widths.empty(), "--widths: the mlp needs at least one hidden width");
    for (std::int64_t w : widths) GS_CHECK(w >= 1, "--widths: every width must be at least 1, got ", w);
    GS_CHECK(optimizer == "sgd" || optimizer == "adam", "--optimizer: unknown optimizer '", optimizer, "' (sgd, adam)");
    GS_CHECK(std::isfinite(lr) && lr > 0, "--lr: must be positive, got ", lr);
    GS_CHECK(momentum >= 0 && momentum < 1, "--momentum: must lie in [0, 1), got ", momentum);
    GS_CHECK(!nesterov || momentum > 0, "--nesterov needs --momentum > 0");
    GS_CHECK(weight_decay >= 0, "--weight-decay: must not be negative, got ", weight_decay);
    const std::set<std::string> schedules{"constant", "step", "exponential", "cosine"};
    GS_CHECK(schedules.count(schedule), "--schedule: unknown schedule '", schedule, "' (", join(schedules), ")");
    GS_CHECK(gamma > 0 && gamma <= 1, "--gamma: must lie in (0, 1], got ", gamma);
    GS_CHECK(step_epochs >= 1, "--step-epochs: must be at least 1, got ", step_epochs);
    GS_CHECK(loss == "cross_entropy" || loss == "hinge", "--loss: unknown loss '", loss, "' (cross_entropy, hinge)");
    GS_CHECK(epochs >= 1, "--epochs: must be at least 1, got ", epochs);
    GS_CHECK(steps >= 0, "--steps: must not be negative, got ", steps);
    GS_CHECK(batch_size >= 1, "--batch-size: must be at least 1, got ", batch_size);
    GS_CHECK(log_every >= 1, "--log-every: must be at least 1, got ", log_every);
    GS_CHECK(checkpoint_every >= 0, "--checkpoint-every: must not be negative, got ", checkpoint_every);
}

nlohmann::json ClassifierSpec::to_json() const {
    nlohmann::json j = {{"dataset", dataset},       {"data_dir", data_dir},         {"train_examples", train_examples},
            {"test_examples", test_examples}, {"randomize", randomize}, {"corrupt_prob", corrupt_prob},
            {"crop", crop},             {"random_crop", random_crop},   {"pad", pad},     {"whiten", whiten},
            {"model", model},           {"widths", widths},             {"optimizer", optimizer},
            {"lr", lr},                 {"momentum", momentum},         {"nesterov", nesterov},
            {"weight_decay", weight_decay}, {"schedule", schedule},     {"gamma", gamma},
            {"step_epochs", step_epochs}, {"loss", loss},               {"epochs", epochs},
            {"batch_size", batch_size}, {"stop_at_fit", stop_at_fit},   {"log_every", log_every},
            {"checkpoint_every", checkpoint_every}, {"seed", seed}};
    if (steps > 0) j["steps"] = steps;  // only when set: gs-train's summaries stay as they were
    if (train_eval_until_error) j["train_eval_until_error"] = true;
    return j;
}

std::shared_ptr<nn::Module> build_classifier_model(const std::string& name, const std::vector<std::int64_t>& widths,
                                                   std::uint64_t seed, std::int64_t C, std::int64_t H, std::int64_t W,
                                                   std::int64_t classes, const std::string& fix) {
    Generator gen(seed, kInitStream);
    if (name == "mlp") return nn::mlp(C * H * W, widths, classes, gen);
    GS_CHECK(H == 28 && W == 28, "--model ", name, ": needs 28x28 inputs (the FC sizes are fixed), got ", H, "x", W, fix);
    if (name == "alexnet_small") return nn::alexnet_small(C, classes, gen);
    return nn::inception_small(C, classes, name == "inception_small", gen);
}

data::Splits load_classifier_data(const ClassifierSpec& spec) {
    data::Splits s = data::load_dataset(spec.dataset, spec.data_dir);
    s.train = first_n(s.train, spec.train_examples);
    s.test = first_n(s.test, spec.test_examples);
    return s;
}

ClassifierResult train_classifier(const ClassifierSpec& spec, const RuntimeOptions& rt, const fs::path& dir, bool resume,
                                  Progress& progress, const data::Splits* preloaded, const TrainHooks& hooks) {
    spec.validate();
    const Device device = check_device(rt);
    kernels::set_deterministic(rt.deterministic);  // cuDNN then picks only deterministic algorithms
    kernels::set_allow_tf32(rt.tf32);
    kernels::set_conv_benchmark(rt.cudnn_benchmark);
    const auto wall_start = Clock::now();
    const fs::path checkpoint_path = dir / "checkpoint.safetensors", summary_path = dir / "summary.json";
    if (resume) {
        if (fs::exists(summary_path)) {
            nlohmann::json done = read_json(summary_path);
            if (done.value("status", "") == "complete") return {"complete", 0, done};
        }
        GS_CHECK(fs::exists(checkpoint_path), "--resume: ", checkpoint_path.string(), " does not exist (nothing to resume)");
    } else {
        GS_CHECK(!fs::exists(checkpoint_path), dir.string(),
                 ": already holds a run (checkpoint.safetensors); continue it with --resume or choose another --run-dir");
    }
    fs::create_directories(dir);
    if (rt.threads > 0) omp_set_num_threads(rt.threads);

    // ---- data: subset, randomization (drawn once, recorded), pipelines
    data::Splits loaded;
    if (!preloaded) loaded = load_classifier_data(spec);
    const data::Splits& raw = preloaded ? *preloaded : loaded;
    data::Randomization r;
    r.kind = data::parse_randomization(spec.randomize);
    r.p = r.kind == data::RandomizationKind::random_labels ? 1.0 : spec.corrupt_prob;
    r.seed = spec.seed;
    const fs::path record_path = dir / "randomization.bin";
    data::Splits splits;
    if (resume && fs::exists(record_path)) {
        splits = data::reapply(raw, data::load_record(record_path));  // throws if the data changed
    } else {
        data::RandomizedSplits rs = data::randomize(raw, r);
        data::save_record(rs.record, record_path);
        splits = std::move(rs.data);
    }
    const std::int64_t C = splits.train.images.size(1);
    GS_CHECK(splits.train.images.size(2) + 2 * spec.pad >= spec.crop && splits.train.images.size(3) + 2 * spec.pad >= spec.crop &&
                 splits.test.images.size(2) >= spec.crop && splits.test.images.size(3) >= spec.crop,
             "--crop ", spec.crop,
             ": larger than the ", splits.train.images.size(2), "x", splits.train.images.size(3), " images");
    GS_CHECK(splits.train.size() > 0, spec.dataset, ": the training split is empty");
    const std::int64_t classes = splits.train.num_classes;

    // ---- model, optimizer, schedule
    std::shared_ptr<nn::Module> model =
        build_classifier_model(spec.model, spec.widths, spec.seed, C, spec.crop, spec.crop, classes, "; set --crop 28");
    // Initialized on the CPU and then moved, so a seed gives the same weights on every device.
    model->to(device);
    std::unique_ptr<nn::Optimizer> opt = build_optimizer(spec, *model);
    data::LoaderOptions lo;
    lo.batch_size = spec.batch_size;
    lo.seed = spec.seed;
    lo.transform = classifier_pipeline(spec, true);
    lo.prefetch = 2;
    lo.threads = rt.threads;
    data::Loader loader(splits.train, lo);
    const std::int64_t per_epoch = loader.batches_per_epoch();
    const nn::LrSchedule schedule = build_schedule(spec, per_epoch);
    write_file_atomic(dir / "model.txt", nn::model_summary(*model, {1, C, spec.crop, spec.crop}));

    LoopState st;
    MetricsLog metrics;
    nlohmann::json hook_state;  // what the hooks saved in the checkpoint being resumed
    if (resume) {
        const nlohmann::json run = nn::load_checkpoint(checkpoint_path, *model, *opt);
        st = LoopState::from_json(run);
        hook_state = run.value("hook", nlohmann::json(nullptr));
        metrics = MetricsLog::resume(dir / "metrics.jsonl", st.step);
        progress.line("resuming " + dir.string() + " at epoch " + std::to_string(st.epoch + 1) + ", step " +
                      std::to_string(st.step));
        // The resume contract promises bit-exact results for the same thread count only (the
        // kernels aim to be thread-count invariant, but not every one is tested for it); another
        // count is allowed (a different machine) but said aloud.
        const int saved_threads = run.value("threads", 0);
        if (saved_threads > 0 && saved_threads != omp_get_max_threads())
            progress.line("note: the run was checkpointed with " + std::to_string(saved_threads) + " threads and continues with " +
                          std::to_string(omp_get_max_threads()) + "; results will not match an uninterrupted run bit for bit");
    } else {
        metrics = MetricsLog::create(dir / "metrics.jsonl");
    }

    nlohmann::json header = {{"model", spec.model},
                             {"parameters", model->num_parameters()},
                             {"dataset", splits.train.name},
                             {"train_examples", splits.train.size()},
                             {"test_examples", splits.test.size()},
                             {"classes", classes},
                             {"threads", omp_get_max_threads()},
                             {"device", rt.device},
                             {"deterministic", rt.deterministic},
                             {"tf32", rt.tf32},
                             {"cudnn_benchmark", rt.cudnn_benchmark}};
    auto summary = [&](const std::string& status) {
        nlohmann::json s = header;
        s["status"] = status;
        s["config"] = spec.to_json();
        s["steps"] = st.step;
        s["epochs"] = st.epoch;
        s["examples_per_second"] = st.train_seconds > 0 ? double(st.examples) / st.train_seconds : 0.0;
        s["train_seconds"] = st.train_seconds;
        s["wall_seconds"] = st.wall_seconds;
        s["final"] = st.last_eval;
        s["best"] = {{"test_accuracy", st.best_test_accuracy < 0 ? nlohmann::json(nullptr) : nlohmann::json(st.best_test_accuracy)},
                     {"epoch", st.best_epoch},
                     {"step", st.best_step}};
        s["first_step_train_accuracy_100"] = st.first_fit_step ? nlohmann::json(*st.first_fit_step) : nlohmann::json(nullptr);
        s["first_epoch_train_accuracy_100"] = st.first_fit_epoch ? nlohmann::json(*st.first_fit_epoch) : nlohmann::json(nullptr);
        return s;
    };
    const double wall_before = st.wall_seconds;
    auto now_wall = [&] { return wall_before + seconds_since(wall_start); };
    auto save = [&] {
        st.wall_seconds = now_wall();
        nlohmann::json run = st.to_json();
        run["threads"] = omp_get_max_threads();
        if (hooks.state) run["hook"] = hooks.state();
        nn::save_checkpoint(checkpoint_path, *model, *opt, run);
    };

    InterruptGuard guard;
    bool raised = false;
    const std::int64_t total_steps = spec.steps > 0 ? spec.steps : spec.epochs * per_epoch;
    const std::int64_t total_epochs = (total_steps + per_epoch - 1) / per_epoch;
    // With spec.steps the run ends at that step, wherever it falls in an epoch.
    auto steps_reached = [&] { return spec.steps > 0 && st.step >= spec.steps; };
    auto step_info = [&](double lr) {
        return StepInfo{st.step, st.epoch, per_epoch, total_steps, lr, now_wall(), resume, *model, splits, metrics, progress};
    };
    model->train();
    if (hooks.on_start) hooks.on_start(step_info(schedule.lr(st.epoch, st.batch)), resume ? &hook_state : nullptr);
    bool fitted_stop = false;
    while ((spec.steps > 0 || st.epoch < spec.epochs) && !fitted_stop) {
        if (st.batch < per_epoch) loader.seek(st.epoch, st.batch);  // == per_epoch: only the evaluation is left
        const double lr_epoch = schedule.lr(st.epoch, 0);
        while (st.batch < per_epoch && !steps_reached()) {
            const auto t0 = Clock::now();
            const data::Batch batch = loader.next();
            const double lr = schedule.lr(st.epoch, st.batch);
            opt->set_lr(lr);
            const Variable logits = (*model)(Variable(batch.images.to(device)));
            Variable loss = autograd::mean(per_example_loss(spec, logits, batch.labels.to(device)));
            opt->zero_grad();
            loss.backward();
            opt->step();
            const double loss_value = loss.value().to(Device::cpu()).item();
            GS_CHECK(std::isfinite(loss_value), "training diverged: the loss is ", loss_value, " at step ", st.step + 1,
                     " (epoch ", st.epoch + 1, "); try a smaller --lr");
            const std::int64_t n = batch.labels.size(0), correct = count_correct(logits.value(), batch.labels);
            st.window.add(loss_value, correct, n);
            st.epoch_window.add(loss_value, correct, n);
            st.examples += n;
            ++st.step;
            ++st.batch;
            st.train_seconds += seconds_since(t0);
            if (hooks.on_step) hooks.on_step(step_info(lr));

            if (st.step % spec.log_every == 0) {
                metrics.append({{"kind", "step"},
                                {"step", st.step},
                                {"epoch", double(st.epoch) + double(st.batch) / double(per_epoch)},
                                {"time", now_wall()},
                                {"lr", lr},
                                {"loss", st.window.loss()},
                                {"accuracy", st.window.accuracy()}});
                st.window = Window{};
            }
            ProgressState ps;
            ps.step = st.step;
            ps.total_steps = total_steps;
            ps.epoch = st.epoch;
            ps.epochs = total_epochs;
            ps.loss = st.epoch_window.loss();
            ps.accuracy = st.epoch_window.accuracy();
            ps.examples_per_second = st.train_seconds > 0 ? double(st.examples) / st.train_seconds : 0;
            ps.eta_seconds = st.examples > 0 ? double(total_steps - st.step) * st.train_seconds / double(st.step) : -1;
            progress.update(ps);

            if (rt.interrupt_after_steps > 0 && st.step == rt.interrupt_after_steps && !raised) {
                raised = true;
                std::raise(SIGINT);  // the real signal path, for tests of interruption and resume
            }
            if (const int sig = interrupted()) {
                save();
                nlohmann::json s = summary("interrupted");
                write_json_atomic(summary_path, s);
                progress.line("interrupted by signal " + std::to_string(sig) + " at step " + std::to_string(st.step) +
                              "; checkpoint saved, continue with --resume " +
                              (rt.resume_folder.empty() ? dir.string() : rt.resume_folder));
                return {"interrupted", sig, s};
            }
            if (spec.checkpoint_every > 0 && st.step % spec.checkpoint_every == 0) save();
        }

        // ---- epoch end: evaluate, record, checkpoint
        const std::int64_t done = st.epoch + 1;
        const bool finished = spec.steps > 0 ? steps_reached() : done == spec.epochs;
        // The last epoch's evaluation is always whole: it is the run's final result.
        const Eval train_eval = evaluate(spec, *model, splits.train, device, spec.train_eval_until_error && !finished);
        const Eval test_eval = evaluate(spec, *model, splits.test, device);
        // An evaluation cut at its first mistake has no loss or accuracy to record.
        const nlohmann::json train_loss = train_eval.complete ? nlohmann::json(train_eval.loss) : nlohmann::json(nullptr);
        const nlohmann::json train_accuracy =
            train_eval.complete ? nlohmann::json(train_eval.accuracy) : nlohmann::json(nullptr);
        // A run cut short by spec.steps ends with a partial epoch, recorded with its fraction.
        const bool partial = st.batch < per_epoch;
        const nlohmann::json epoch_value =
            partial ? nlohmann::json(double(st.epoch) + double(st.batch) / double(per_epoch)) : nlohmann::json(done);
        if (splits.test.size() > 0 && test_eval.accuracy > st.best_test_accuracy) {
            st.best_test_accuracy = test_eval.accuracy;
            st.best_epoch = done;
            st.best_step = st.step;
        }
        if (!st.first_fit_step && train_eval.complete && train_eval.accuracy == 1.0) {
            st.first_fit_step = st.step;
            st.first_fit_epoch = done;
        }
        st.last_eval = {{"train_loss", train_loss},
                        {"train_accuracy", train_accuracy},
                        {"test_loss", test_eval.loss},
                        {"test_accuracy", test_eval.accuracy},
                        {"epoch", epoch_value},
                        {"step", st.step}};
        if (!train_eval.misclassified.empty() && train_eval.misclassified.size() <= kListMisclassified)
            st.last_eval["train_misclassified"] = train_eval.misclassified;
        metrics.append({{"kind", "epoch"},
                        {"step", st.step},
                        {"epoch", epoch_value},
                        {"time", now_wall()},
                        {"lr", lr_epoch},
                        {"train_loss", train_loss},
                        {"train_accuracy", train_accuracy},
                        {"test_loss", test_eval.loss},
                        {"test_accuracy", test_eval.accuracy},
                        {"batch_loss", st.epoch_window.loss()},
                        {"batch_accuracy", st.epoch_window.accuracy()},
                        {"examples_per_second", st.train_seconds > 0 ? double(st.examples) / st.train_seconds : 0.0}});
        char train_part[64] = "train not yet fitted";
        if (train_eval.complete)
            std::snprintf(train_part, sizeof train_part, "train loss %.4f acc %.2f%%", train_eval.loss,
                          100 * train_eval.accuracy);
        char line[256];
        std::snprintf(line, sizeof line, "epoch %lld/%lld  step %lld  %s  test loss %.4f acc %.2f%%", (long long)done,
                      (long long)total_epochs, (long long)st.step, train_part, test_eval.loss, 100 * test_eval.accuracy);
        progress.line(line);
        if (!partial) {
            st.epoch = done;
            st.batch = 0;
            st.epoch_window = Window{};
        }
        fitted_stop = spec.stop_at_fit && st.first_fit_step.has_value();
        save();
        write_json_atomic(summary_path, summary(finished || fitted_stop ? "complete" : "running"));
        if (finished) break;
    }
    progress.finish();
    st.wall_seconds = now_wall();
    nlohmann::json s = summary("complete");
    write_json_atomic(summary_path, s);
    return {"complete", 0, s};
}

}  // namespace gs::exp
