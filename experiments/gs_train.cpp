// gs-train: trains one classifier (any model, dataset and randomization) with the shared runner
// and reports train/test loss and accuracy. See experiments/runner/classifier.h for what it writes.
#include <cstdio>

#include "experiments/runner/interrupt.h"
#include "tensor/error.h"

#include "experiments/runner/classifier.h"
#include "experiments/runner/common_flags.h"
#include "experiments/runner/figures.h"
#include "experiments/runner/flags.h"

using namespace gs::exp;

namespace {

// Fills what neither the command line nor a config file set.
void apply_preset(Flags& f, const std::string& preset, ClassifierSpec& s) {
    if (preset.empty()) return;
    if (preset == "quick") {
        // Minutes on 2 CPU cores: a Fashion-MNIST subset and the 3x512 MLP.
        f.preset("--train-examples", s.train_examples, std::int64_t(10000));
        f.preset("--test-examples", s.test_examples, std::int64_t(2000));
        f.preset("--epochs", s.epochs, std::int64_t(5));
        return;
    }
    if (preset == "paper") {
        // Zhang et al. 2017 (papers.md §1.3): CIFAR-10, 28x28 crops, per-image whitening, SGD with
        // momentum 0.9, lr 0.1 (Inception) or 0.01 (others) decayed x0.95 per epoch, batch 128.
        f.preset("--dataset", s.dataset, std::string("cifar10"));
        f.preset("--model", s.model, std::string("inception_small"));
        f.preset("--crop", s.crop, std::int64_t(28));
        f.preset("--whiten", s.whiten, true);
        f.preset("--optimizer", s.optimizer, std::string("sgd"));
        f.preset("--momentum", s.momentum, 0.9);
        f.preset("--lr", s.lr, s.model.rfind("inception", 0) == 0 ? 0.1 : 0.01);
        f.preset("--schedule", s.schedule, std::string("exponential"));
        f.preset("--gamma", s.gamma, 0.95);
        f.preset("--batch-size", s.batch_size, std::int64_t(128));
        f.preset("--epochs", s.epochs, std::int64_t(100));
        return;
    }
    GS_FAIL("--preset: unknown preset '", preset, "' (quick, paper)");
}

}  // namespace

int main(int argc, char** argv) {
    return run_main("gs-train", [&]() -> int {
        CLI::App app{"gs-train: train a classifier and report train/test loss and accuracy", "gs-train"};
        Flags f(app);
        ClassifierSpec s;
        CommonOptions common;
        add_common_flags(f, common, "quick (Fashion-MNIST subset, minutes on 2 cores) or paper (Zhang et al., CIFAR-10)");
        add_data_flags(f, s);
        f.option("--randomize", s.randomize,
                 "true_labels, partial_labels, random_labels, shuffled_pixels, random_pixels or gaussian");
        f.option("--corrupt-prob", s.corrupt_prob, "partial_labels: corruption probability p")->check(CLI::Range(0.0, 1.0));
        f.option("--crop", s.crop, "crop images to N x N (center; random with --random-crop)");
        f.flag("--random-crop", s.random_crop, "random crops for training (the augmentation of Zhang et al. Table 1)");
        f.option("--pad", s.pad, "zero padding before --random-crop (e.g. 2 for 28x28 crops of 28x28 images)");
        f.flag("--whiten", s.whiten, "per-image whitening after scaling to [0, 1]");
        f.option("--model", s.model, "mlp, alexnet_small, inception_small or inception_small_nobn");
        f.option("--widths", s.widths, "mlp hidden widths, e.g. 512,512,512");
        f.option("--optimizer", s.optimizer, "sgd or adam");
        f.option("--lr", s.lr, "learning rate");
        f.option("--momentum", s.momentum, "SGD momentum");
        f.flag("--nesterov", s.nesterov, "Nesterov momentum");
        f.option("--weight-decay", s.weight_decay, "L2 weight decay");
        f.option("--schedule", s.schedule, "learning-rate schedule: constant, step, exponential or cosine");
        f.option("--gamma", s.gamma, "decay factor of the step and exponential schedules (per epoch)");
        f.option("--step-epochs", s.step_epochs, "step schedule: epochs between decays");
        f.option("--loss", s.loss, "cross_entropy or hinge");
        f.option("--epochs", s.epochs, "epochs to train");
        f.option("--batch-size", s.batch_size, "minibatch size");
        f.flag("--stop-at-fit", s.stop_at_fit, "stop at the first epoch end with 100% training accuracy");
        f.option("--log-every", s.log_every, "steps between metrics records");
        f.option("--checkpoint-every", s.checkpoint_every, "steps between checkpoints besides epoch ends (0: none)");

        if (int rc = parse_run_flags(app, argc, argv); rc >= 0) return rc;
        apply_preset(f, common.preset, s);
        s.seed = common.seed;
        s.validate();

        const auto dir = prepare_run_dir(f, common, "train");
        Progress progress(progress_mode(common.progress), common.runtime.plain_interval_seconds);
        progress.line("gs-train: " + s.model + " on " + s.dataset + " (" + s.randomize + "), run folder " + dir.string());
        const ClassifierResult r = train_classifier(s, common.runtime, dir, !common.resume.empty(), progress);
        if (r.status == "interrupted") return exit_code_for_signal(r.signal);
        if (common.plot) draw_figures("train", dir, progress);
        const auto& fin = r.summary["final"];
        std::printf("final: train loss %.4f accuracy %.2f%%, test loss %.4f accuracy %.2f%% (best test %.2f%%), %lld steps, "
                    "%.0f examples/s\n",
                    fin.value("train_loss", 0.0), 100 * fin.value("train_accuracy", 0.0), fin.value("test_loss", 0.0),
                    100 * fin.value("test_accuracy", 0.0), 100 * r.summary["best"].value("test_accuracy", 0.0),
                    (long long)r.summary.value("steps", 0), r.summary.value("examples_per_second", 0.0));
        std::printf("summary: %s\n", (dir / "summary.json").c_str());
        return 0;
    });
}
