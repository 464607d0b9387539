#pragma once
// Zhang et al. 2017, §4 (papers.md §1.9): the gs-expressivity experiment. For each sample size n,
// Theorem 1's network (2n + d weights, built in closed form by fit_two_layer_relu) is fitted to n
// points and its residual measured in f64 and with extended summation; then the same points are
// fitted by minibatch SGD with an ordinary two-layer ReLU net of the same width n, for a fixed step
// budget, and its training residual and accuracy are put beside the construction's.
//
// Files in the run folder:
//   n<N>/result.json    one size's numbers, written atomically when that size is done (resume
//                       skips a size whose result.json exists)
//   n<N>/metrics.jsonl  the SGD curve: {"kind": "sgd", "step", "loss", "time"} every log_every steps
//   summary.json        every finished size, in order, plus the configuration
//   report.md           setup, the table, papers.md's expectations beside the measured values
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "experiments/runner/classifier.h"
#include "experiments/runner/progress.h"
#include "tensor/tensor.h"

namespace gs::exp::zhang {

struct ExpressivitySpec {
    std::vector<std::int64_t> sizes{100, 1000};  // n, ascending; each run uses the first n points
    std::string points = "fashion-mnist";        // gaussian (standard normal entries) or fashion-mnist
    std::string data_dir;                        // fashion-mnist folder (empty: Debian's copy)
    std::int64_t dim = 784;                      // d of Gaussian points (Fashion-MNIST has 784)
    std::string targets = "labels";              // labels (the images' classes), random-labels, gaussian
    std::int64_t extended_max_n = 50000;         // extended summation only for n up to this (O(n^2))
    // ---- the SGD comparison
    std::int64_t sgd_max_n = 1000;    // train the SGD net for every n up to this (0: never)
    std::int64_t sgd_steps = 500;     // minibatch steps per n
    std::int64_t sgd_batch_size = 100;
    double sgd_lr = 0.01;
    double sgd_momentum = 0.9;
    std::string sgd_loss = "mse";     // mse (scalar output, the construction's targets) or cross_entropy
    std::int64_t log_every = 10;      // SGD steps between metrics records
    std::uint64_t seed = 0;

    // Throws gs::Error naming the flag ("--sizes", ...) of the first invalid value.
    void validate() const;
    nlohmann::json to_json() const;
};

// The experiment's data: the first max(sizes) points, f64 (N, D), and targets (N) f64 (integer
// valued for labels and random-labels), as the spec describes. Gaussian points and random targets
// come from Generator(seed) and Generator(seed + 1), so a run is reproducible.
struct ExpressivityData {
    Tensor x;       // (N, D) f64; Fashion-MNIST pixels / 255
    Tensor y;       // (N) f64
    bool integer_targets = false;
};
ExpressivityData expressivity_data(const ExpressivitySpec& spec);

// One size: the construction's numbers and (n <= sgd_max_n) the SGD net's, as written to
// n<N>/result.json. `dir` receives the SGD metrics (n<N>/metrics.jsonl). Returns an object with
// "status": "interrupted" when a signal arrived during SGD (nothing is saved for that n then).
nlohmann::json run_expressivity_size(const ExpressivitySpec& spec, const ExpressivityData& data, std::int64_t n,
                                     const RuntimeOptions& runtime, const std::filesystem::path& dir,
                                     Progress& progress);

struct ExpressivityResult {
    std::string status;  // complete, interrupted
    int signal = 0;
    nlohmann::json summary;
};

// Runs every size in `dir` (resume: keeps the sizes whose result.json exists), writing
// summary.json after each and report.md at the end.
ExpressivityResult run_expressivity(const ExpressivitySpec& spec, const RuntimeOptions& runtime,
                                    const std::filesystem::path& dir, bool resume, Progress& progress);

// report.md for a summary written by run_expressivity.
std::string expressivity_report(const nlohmann::json& summary);

}  // namespace gs::exp::zhang
