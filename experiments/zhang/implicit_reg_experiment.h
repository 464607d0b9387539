#pragma once
// Zhang et al. 2017, §5 (papers.md §1.10): the gs-implicit-reg experiment.
//   (a) Linear model with d >= n: plain SGD from w = 0 against the minimum-norm interpolant
//       w* = X^T alpha, X X^T alpha = y (Cholesky), per data source (Gaussian points, dataset images).
//   (b) Kernel "interpolation": Gaussian RBF kernel on n training images, K c = Y solved exactly
//       (lambda = 0) and with ridge lambda > 0, train/test error and the RKHS norm per lambda.
//
// Files in the run folder (each part saved atomically when done; --resume skips finished parts):
//   linear_<data>/result.json, linear_<data>/metrics.jsonl   per-epoch {"kind": "linear", "epoch",
//       "distance" ||w - w*||, "norm" ||w||, "rms_residual" of X w - y}
//   kernel_lambda<L>/result.json
//   summary.json, report.md
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "experiments/runner/classifier.h"
#include "experiments/runner/progress.h"

namespace gs::exp::zhang {

struct ImplicitRegSpec {
    // ---- data (the kernel part and the "dataset" linear source)
    std::string dataset = "fashion-mnist";  // fashion-mnist or mnist
    std::string data_dir;                   // empty: Debian's Fashion-MNIST
    // ---- (a) linear
    std::vector<std::string> linear_data{"gaussian", "dataset"};  // gaussian: N(0, 1/d) entries
    std::int64_t linear_n = 500;
    std::int64_t linear_dim = 784;           // d of the Gaussian points (dataset images: 784)
    std::int64_t linear_epochs = 100;
    double linear_lr_scale = 1.0;            // lr = scale / max_i ||x_i||^2 (batch 1)
    // ---- (b) kernel
    std::int64_t train_examples = 2000;      // n of the kernel matrix
    std::int64_t test_examples = 10000;      // the first M test images (0: all)
    double gamma = 0.02;                     // K_ij = exp(-gamma ||x_i - x_j||^2), pixels in [0, 1]
    std::vector<double> lambdas{0.0, 0.01, 0.1, 1.0};
    bool kernel = true;                      // run part (b)
    std::uint64_t seed = 0;

    // Throws gs::Error naming the flag of the first invalid value.
    void validate() const;
    nlohmann::json to_json() const;
};

// Bytes the kernel part needs at its peak: the n x n f64 kernel matrix (factored in place), the
// f64 training images, and one ~256 MB block of prediction kernel rows.
double kernel_memory_bytes(std::int64_t n, std::int64_t d);

// Part (a) on one source, into `dir` (metrics.jsonl there). x: (N, D), y: (N).
nlohmann::json run_linear_part(const ImplicitRegSpec& spec, const std::string& source, const std::filesystem::path& dir,
                               Progress& progress);

struct ImplicitRegResult {
    std::string status;  // complete, interrupted
    int signal = 0;
    nlohmann::json summary;
};

// Runs both parts in `dir`, writing summary.json after each piece and report.md at the end.
ImplicitRegResult run_implicit_reg(const ImplicitRegSpec& spec, const RuntimeOptions& runtime,
                                   const std::filesystem::path& dir, bool resume, Progress& progress);

std::string implicit_reg_report(const nlohmann::json& summary);

}  // namespace gs::exp::zhang
