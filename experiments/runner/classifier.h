#pragma once
// The training loop every classification experiment shares: a dataset (any reader, any
// randomization of data/randomize.h, a subset), a model by name, SGD or Adam with a schedule,
// minibatch training with periodic metrics, evaluation at every epoch end, checkpoints, exact
// resume and graceful interruption. gs-train is a thin command line over it; the paper binaries
// call it once per model and setting, each in its own sub-folder of the run folder.
//
// Files written into `dir` (see run_dir.h): metrics.jsonl, summary.json, checkpoint.safetensors,
// randomization.bin (the drawn labels/permutation record), model.txt (the model summary).
//
// Metrics records (one JSON object per line):
//   {"kind": "step", "step", "epoch", "time", "lr", "loss", "accuracy"}     every log_every steps:
//       loss and accuracy averaged over the minibatches since the previous step record
//   {"kind": "epoch", "step", "epoch", "time", "lr", "train_loss", "train_accuracy" (eval mode,
//       the whole training split), "test_loss", "test_accuracy", "batch_loss", "batch_accuracy"
//       (averaged over the epoch's minibatches, train mode), "examples_per_second"}
// "epoch" counts completed epochs in epoch records and is fractional (epochs done) in step records;
// "step" counts optimizer steps taken; "time" is wall seconds of training and evaluation so far.
//
// Resume contract: with the same thread count, a run interrupted at any step and resumed ends with
// the same weights, metrics (except "time" and speed) and summary values as an uninterrupted run.
//
// Hooks (TrainHooks) let an experiment measure the model during training without a loop of its
// own (gs-stiffness): they see the model after every optimizer step, append their records to
// metrics.jsonl (which resume truncates to the checkpoint's step like the runner's own records)
// and keep any further state in the checkpoint, so hooked runs resume exactly too.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/transforms.h"
#include "nn/module.h"
#include "experiments/runner/progress.h"

namespace gs::exp {

struct ClassifierSpec {
    // ---- data
    std::string dataset = "fashion-mnist";
    std::string data_dir;                 // empty: the dataset's default (fashion-mnist only)
    std::int64_t train_examples = 0;      // the first N of the split; 0 = all
    std::int64_t test_examples = 0;
    std::string randomize = "true_labels";  // data/randomize.h names
    double corrupt_prob = 0.0;            // partial_labels: p
    std::int64_t crop = 28;               // center crop (or random crop) to crop x crop
    bool random_crop = false;
    std::int64_t pad = 0;                 // zero padding before the random crop (training only)
    bool whiten = true;                   // per-image whitening after /255 (Zhang et al.)
    // ---- model
    std::string model = "mlp";            // mlp, alexnet_small, inception_small, inception_small_nobn
    std::vector<std::int64_t> widths{512, 512, 512};  // mlp hidden widths
    // ---- optimization
    std::string optimizer = "sgd";        // sgd, adam
    double lr = 0.01;
    double momentum = 0.9;
    bool nesterov = false;
    double weight_decay = 0.0;
    std::string schedule = "exponential";  // constant, step, exponential, cosine
    double gamma = 0.95;                  // step/exponential factor
    std::int64_t step_epochs = 1;         // step schedule: epochs between decays
    std::string loss = "cross_entropy";   // cross_entropy, hinge
    std::int64_t epochs = 10;
    // > 0: train exactly this many optimizer steps instead of `epochs` epochs; a partial last epoch
    // ends with the usual evaluation, recorded with a fractional "epoch". Written to to_json() only
    // when set (gs-train does not offer it).
    std::int64_t steps = 0;
    std::int64_t batch_size = 128;
    bool stop_at_fit = false;             // stop at the first epoch end with 100% training accuracy
    // The evaluation of the training split at each epoch end stops at its first misclassified
    // example, except at the run's last epoch: a run that needs only the fit from it (the steps to
    // 100%) skips most of that pass until it fits. An epoch so cut records null train loss and
    // accuracy (its running minibatch figures, "batch_loss"/"batch_accuracy", remain). Written to
    // to_json() only when set.
    bool train_eval_until_error = false;
    // ---- bookkeeping
    std::int64_t log_every = 50;          // steps between step records
    std::int64_t checkpoint_every = 0;    // steps between extra checkpoints (0: epoch ends only)
    std::uint64_t seed = 0;               // initialization, data order, augmentation, randomization

    // Throws gs::Error naming the flag ("--lr", ...) of the first invalid value.
    void validate() const;
    nlohmann::json to_json() const;
};

struct RuntimeOptions {
    int threads = 0;             // OpenMP threads; 0: all cores
    std::string device = "cpu";  // cpu, cuda, cuda:N
    bool deterministic = false;  // recorded; CPU kernels are always deterministic
    bool tf32 = false;           // recorded; CUDA f32 GEMMs and convolutions may use TF32 tensor cores
    bool cudnn_benchmark = false;  // recorded; cuDNN convolution algorithms chosen by timing, per shape
    std::int64_t interrupt_after_steps = 0;  // testing: raise SIGINT after this step (0: never)
    double plain_interval_seconds = 30;
    // The folder an interrupted run tells the user to --resume: the binary's run folder, which for
    // gs-randomization and the other multi-run binaries is above the sub-run's (empty: the run's own).
    std::string resume_folder;
};

// The device of --device, checked before any work: a CUDA device must exist in this build and
// machine (throws naming --device otherwise).
Device check_device(const RuntimeOptions& rt);


struct ClassifierResult {
    std::string status;  // "complete" or "interrupted"
    int signal = 0;      // the signal that interrupted the run
    nlohmann::json summary;
};

class MetricsLog;

// What a hook sees. `step` counts optimizer steps taken (0 before the first); the model is in
// training mode and must be left so (switch to eval and back, as measure code does); hooks must not
// draw from any random stream the training uses, or resume stops being exact.
struct StepInfo {
    std::int64_t step = 0;
    std::int64_t epoch = 0;            // completed epochs
    std::int64_t steps_per_epoch = 0;
    std::int64_t total_steps = 0;      // the run's last step
    double lr = 0;                     // the learning rate of the step just taken (the first at step 0)
    double wall_seconds = 0;           // of the whole run so far, resumed parts included
    bool resumed = false;              // on_start only: continuing from a checkpoint
    nn::Module& model;
    const data::Splits& data;          // after randomization: the labels the model trains on
    MetricsLog& metrics;
    Progress& progress;
};

struct TrainHooks {
    // Once, when data, model and optimizer are ready and before any step is taken: on a fresh run
    // at step 0 (`state` null), on a resumed one at the checkpoint's step with the `state` value
    // saved in that checkpoint (a JSON null when the hook saved none).
    std::function<void(const StepInfo&, const nlohmann::json* state)> on_start;
    // After every optimizer step (before the interruption check and any checkpoint of that step, so
    // a checkpoint at step s includes what the hook did at step s).
    std::function<void(const StepInfo&)> on_step;
    // The hook's state, stored in every checkpoint (called at each save).
    std::function<nlohmann::json()> state;
};

// The model `name` (mlp with `widths`, alexnet_small, inception_small, inception_small_nobn) for
// (C, H, W) inputs and `classes` outputs, initialized from Philox stream "INIT" of `seed`: every
// experiment that builds a model by name gets the same weights for the same seed. The conv models
// need 28x28 inputs; `fix` is appended to that error (e.g. "; set --crop 28").
std::shared_ptr<nn::Module> build_classifier_model(const std::string& name, const std::vector<std::int64_t>& widths,
                                                   std::uint64_t seed, std::int64_t C, std::int64_t H, std::int64_t W,
                                                   std::int64_t classes, const std::string& fix = "");

// The input pipeline of the runner: (random) crop, scaling to [0, 1], whitening per `spec`; with
// train = false the evaluation pipeline (center crop), which hooks use for probe inputs.
data::Pipeline classifier_pipeline(const ClassifierSpec& spec, bool train);

// Loads spec.dataset (with spec.data_dir) and takes the subsets; no randomization yet.
data::Splits load_classifier_data(const ClassifierSpec& spec);

// Trains per `spec` in `dir` (created if needed). resume = false starts afresh (an existing
// checkpoint in `dir` is an error, so a finished run is never overwritten by accident); resume =
// true continues from dir/checkpoint.safetensors, or returns the stored summary at once when the
// run had completed (no hook is called then). `data`: splits from load_classifier_data (loaded
// here when null). `hooks`: see TrainHooks.
ClassifierResult train_classifier(const ClassifierSpec& spec, const RuntimeOptions& runtime,
                                  const std::filesystem::path& dir, bool resume, Progress& progress,
                                  const data::Splits* data = nullptr, const TrainHooks& hooks = {});

}  // namespace gs::exp
