// gs-randomization: Zhang et al. 2017 §2 (Figure 1): every model fitted on true labels, random
// labels, shuffled pixels, random pixels, Gaussian images and partially corrupted labels, with the
// steps to 100% training accuracy and the test error per corruption level. See
// experiments/zhang/randomization.h for the runs and files.
#include <cstdio>

#include "experiments/runner/common_flags.h"
#include "experiments/runner/figures.h"
#include "experiments/runner/flags.h"
#include "experiments/runner/interrupt.h"
#include "experiments/zhang/randomization.h"
#include "tensor/error.h"

using namespace gs::exp;
using gs::exp::zhang::RandomizationSpec;

namespace {

void apply_preset(Flags& f, const std::string& preset, RandomizationSpec& r, std::string& models, std::string& settings,
                  std::vector<double>& corruption) {
    ClassifierSpec& s = r.base;
    if (preset.empty() || preset == "quick") {
        // Minutes on 2 CPU cores: the two MLPs on a Fashion-MNIST subset. A constant rate, since
        // a x0.95-per-epoch decay over the many short epochs of a subset would stall the fit.
        f.preset("--models", models, std::string("mlp_1x512,mlp_3x512"));
        f.preset("--train-examples", s.train_examples, std::int64_t(1000));
        f.preset("--test-examples", s.test_examples, std::int64_t(1000));
        f.preset("--corruption", corruption, std::vector<double>{0.0, 0.5, 1.0});
        f.preset("--epochs", s.epochs, std::int64_t(100));
        f.preset("--schedule", s.schedule, std::string("constant"));
        f.preset("--lr", r.other_lr, 0.01);
        return;
    }
    if (preset == "standard") {
        // About 2.5 hours on 2 CPU cores: the MLPs on 10,000 Fashion-MNIST images, the whole
        // corruption grid. alexnet_small is left out: on these images it fitted true labels at
        // epoch 48 and random labels at 105, ~10 s an epoch with the evaluations, and partial
        // labels take longer still, some 3-5 hours more (README); add it with --models. Constant
        // rate, as in quick. Every run stops at its fit; the cap is high because the last few
        // corrupted labels take long: in this preset's run the partial-label fits came at 181-252
        // epochs, and some runs never fitted one or two near-copies of other images that carry
        // another label (the report names them).
        f.preset("--models", models, std::string("mlp_1x512,mlp_3x512"));
        f.preset("--train-examples", s.train_examples, std::int64_t(10000));
        f.preset("--epochs", s.epochs, std::int64_t(400));
        f.preset("--schedule", s.schedule, std::string("constant"));
        return;
    }
    if (preset == "paper") {
        // papers.md §1.3-1.5: CIFAR-10, all four models, SGD momentum 0.9, lr 0.1 (Inception) /
        // 0.01, x0.95 per epoch, 28x28 crops, per-image whitening, batch 128.
        f.preset("--dataset", s.dataset, std::string("cifar10"));
        f.preset("--models", models, std::string("inception_small,alexnet_small,mlp_1x512,mlp_3x512"));
        f.preset("--epochs", s.epochs, std::int64_t(200));
        return;
    }
    (void)settings;
    GS_FAIL("--preset: unknown preset '", preset, "' (quick, standard, paper)");
}

}  // namespace

int main(int argc, char** argv) {
    return run_main("gs-randomization", [&]() -> int {
        CLI::App app{"gs-randomization: Zhang et al. 2017 section 2, the randomization tests (Figure 1)", "gs-randomization"};
        Flags f(app);
        RandomizationSpec r;
        ClassifierSpec& s = r.base;
        s.epochs = 100;
        CommonOptions common;
        std::string models = "mlp_1x512,mlp_3x512", settings = "true_labels,random_labels,shuffled_pixels,random_pixels,gaussian,partial_labels";
        std::vector<double> corruption = r.corruption;
        add_common_flags(f, common, "quick (default: MLPs on 1,000 Fashion-MNIST images, minutes), standard (MLPs on "
                                    "10,000 images, the whole corruption grid), paper (CIFAR-10, all four models)");
        f.option("--models", models,
                 "comma-separated: inception_small, inception_small_nobn, alexnet_small, mlp_1x512, mlp_3x512");
        f.option("--settings", settings, "Figure 1a settings (comma-separated randomization names)");
        f.option("--figure-p", r.figure_p, "the corruption level of the partial_labels setting in Figure 1a");
        f.option("--corruption", corruption, "Figure 1b/1c corruption levels, e.g. 0,0.2,0.4,0.6,0.8,1")->delimiter(',');
        add_data_flags(f, s);
        f.option("--crop", s.crop, "center crop to N x N");
        f.flag("--whiten", s.whiten, "per-image whitening after scaling to [0, 1]");
        f.option("--lr", r.other_lr, "learning rate of alexnet_small and the MLPs");
        f.option("--lr-inception", r.inception_lr, "learning rate of inception_small");
        f.option("--lr-inception-nobn", r.nobn_inception_lr,
                 "learning rate of inception_small_nobn (default 0.003: it diverged at the BN model's 0.1 here)");
        f.option("--momentum", s.momentum, "SGD momentum");
        f.option("--schedule", s.schedule, "constant, step, exponential (default, x gamma per epoch) or cosine");
        f.option("--gamma", s.gamma, "decay per epoch");
        f.option("--epochs", s.epochs, "at most this many epochs per run (each stops once it fits)");
        f.option("--batch-size", s.batch_size, "minibatch size");
        f.option("--log-every", s.log_every, "steps between metrics records (the Figure 1a curves)");
        std::string train_eval = "until-error";
        f.option("--train-eval", train_eval,
                 "until-error (default): each epoch's evaluation of the training split stops at its first mistake, "
                 "enough to find the fit (epoch records then hold null train loss/accuracy until it); full: "
                 "evaluate all of it every epoch");

        if (int rc = parse_run_flags(app, argc, argv); rc >= 0) return rc;
        apply_preset(f, common.preset, r, models, settings, corruption);
        GS_CHECK(train_eval == "until-error" || train_eval == "full", "--train-eval: unknown value '", train_eval,
                 "' (until-error, full)");
        s.train_eval_until_error = train_eval == "until-error";
        r.models = split_list(models);
        r.settings = split_list(settings);
        r.corruption = corruption;
        s.seed = common.seed;
        r.validate();

        const auto dir = prepare_run_dir(f, common, "randomization");
        Progress progress(progress_mode(common.progress), common.runtime.plain_interval_seconds);
        progress.line("gs-randomization: run folder " + dir.string());
        const auto result = zhang::run_randomization(r, common.runtime, dir, !common.resume.empty(), progress);
        if (result.status == "interrupted") return exit_code_for_signal(result.signal);
        if (common.plot) draw_figures("randomization", dir, progress);
        for (const auto& [model, m] : result.summary["models"].items()) {
            std::printf("%s:", model.c_str());
            for (const auto& [name, run] : m["runs"].items())
                std::printf(" %s %s/%.1f%%", name.c_str(),
                            run["first_step_train_accuracy_100"].is_number() ? run["first_step_train_accuracy_100"].dump().c_str() : "unfit",
                            100 * run.value("test_accuracy", 0.0));
            std::printf("\n");
        }
        std::printf("report: %s\n", (dir / "report.md").c_str());
        return 0;
    });
}
