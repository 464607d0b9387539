// gs-expressivity: Zhang et al. 2017 §4, Theorem 1: a two-layer ReLU network with 2n + d weights
// fits any targets on n points, built in closed form, beside SGD on a net of the same width. See
// experiments/zhang/expressivity_experiment.h for the runs and files.
#include <cstdio>

#include "experiments/runner/common_flags.h"
#include "experiments/runner/figures.h"
#include "experiments/runner/flags.h"
#include "experiments/runner/interrupt.h"
#include "experiments/zhang/expressivity_experiment.h"
#include "tensor/error.h"

using namespace gs::exp;
using gs::exp::zhang::ExpressivitySpec;

namespace {

void apply_preset(Flags& f, const std::string& preset, ExpressivitySpec& s) {
    if (preset.empty() || preset == "quick") {
        // Under a minute on 2 shared cores: two sizes, SGD on both (most of the time is the width-1000
        // net's 200 steps).
        f.preset("--sizes", s.sizes, std::vector<std::int64_t>{100, 1000});
        f.preset("--sgd-max-n", s.sgd_max_n, std::int64_t(1000));
        f.preset("--sgd-steps", s.sgd_steps, std::int64_t(200));
        return;
    }
    if (preset == "standard") {
        // The construction up to papers.md's n = 50,000; SGD (width n) up to n = 1,000.
        f.preset("--sizes", s.sizes, std::vector<std::int64_t>{100, 1000, 10000, 50000});
        f.preset("--sgd-max-n", s.sgd_max_n, std::int64_t(1000));
        f.preset("--sgd-steps", s.sgd_steps, std::int64_t(3000));
        return;
    }
    if (preset == "paper") {
        // As standard, with SGD up to width 10,000 and a longer budget.
        f.preset("--sizes", s.sizes, std::vector<std::int64_t>{100, 1000, 10000, 50000});
        f.preset("--sgd-max-n", s.sgd_max_n, std::int64_t(10000));
        f.preset("--sgd-steps", s.sgd_steps, std::int64_t(5000));
        return;
    }
    GS_FAIL("--preset: unknown preset '", preset, "' (quick, standard, paper)");
}

}  // namespace

int main(int argc, char** argv) {
    return run_main("gs-expressivity", [&]() -> int {
        CLI::App app{"gs-expressivity: Zhang et al. 2017 section 4, Theorem 1 (finite-sample expressivity)", "gs-expressivity"};
        Flags f(app);
        ExpressivitySpec s;
        CommonOptions common;
        add_common_flags(f, common, "quick (default: n = 100, 1000; seconds), standard (n up to 50,000; SGD up to 1,000), "
                                    "paper (as standard, SGD up to 10,000)");
        f.option("--sizes", s.sizes, "sample sizes n, ascending, comma-separated");
        f.option("--points", s.points, "gaussian or fashion-mnist (the first n training images, /255)")
            ->check(CLI::IsMember({"gaussian", "fashion-mnist"}));
        f.option("--data-dir", s.data_dir, "Fashion-MNIST folder (default: Debian's copy)");
        f.option("--dim", s.dim, "d of Gaussian points");
        f.option("--targets", s.targets, "labels (Fashion-MNIST classes), random-labels (uniform 0-9) or gaussian (reals)")
            ->check(CLI::IsMember({"labels", "random-labels", "gaussian"}));
        f.option("--extended-max-n", s.extended_max_n, "also evaluate with extended (long double) summation for n up to this");
        f.option("--sgd-max-n", s.sgd_max_n, "train the SGD net (width n) for every n up to this (0: never)");
        f.option("--sgd-steps", s.sgd_steps, "SGD steps per n");
        f.option("--sgd-batch-size", s.sgd_batch_size, "SGD minibatch size");
        f.option("--sgd-lr", s.sgd_lr, "SGD learning rate");
        f.option("--sgd-momentum", s.sgd_momentum, "SGD momentum");
        f.option("--sgd-loss", s.sgd_loss, "mse (scalar output, the same real targets) or cross_entropy (10 outputs)")
            ->check(CLI::IsMember({"mse", "cross_entropy"}));
        f.option("--log-every", s.log_every, "SGD steps between metrics records");

        if (int rc = parse_run_flags(app, argc, argv); rc >= 0) return rc;
        apply_preset(f, common.preset, s);
        s.seed = common.seed;
        s.validate();

        const auto dir = prepare_run_dir(f, common, "expressivity");
        Progress progress(progress_mode(common.progress), common.runtime.plain_interval_seconds);
        progress.line("gs-expressivity: run folder " + dir.string());
        InterruptGuard guard;
        const auto result = zhang::run_expressivity(s, common.runtime, dir, !common.resume.empty(), progress);
        progress.finish();
        if (result.status == "interrupted") return exit_code_for_signal(result.signal);
        if (common.plot) draw_figures("expressivity", dir, progress);
        for (const auto& r : result.summary["sizes"]) {
            std::printf("n = %lld: %lld weights, max residual %.3e (f64)", (long long)r["n"].get<std::int64_t>(),
                        (long long)r["weights"].get<std::int64_t>(), r["max_residual_f64"].get<double>());
            if (r["max_residual_extended"].is_number())
                std::printf(", %.3e (extended)", r["max_residual_extended"].get<double>());
            if (r["sgd"].is_object()) std::printf("; SGD train loss %.4g", r["sgd"]["train_loss"].get<double>());
            std::printf("\n");
        }
        std::printf("report: %s\n", (dir / "report.md").c_str());
        return 0;
    });
}
