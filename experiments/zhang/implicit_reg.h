#pragma once
// Zhang et al. 2017, §5 (papers.md §1.10): implicit regularization in linear models. (a) The
// minimum-norm interpolant w* = X^T alpha, X X^T alpha = y, and plain SGD from zero, which
// converges to it. (b) Kernel "interpolation" with a Gaussian RBF kernel: solve K c = Y (or
// (K + lambda I) c = Y), predict, and measure the solution's RKHS norm. All f64, CPU. The
// gs-implicit-reg binary (data loading, report) lives elsewhere.
#include <cstdint>
#include <functional>

#include "tensor/tensor.h"

namespace gs::exp::zhang {

// ---- (a) linear model, d >= n --------------------------------------------------------------------

struct MinNormSolution {
    Tensor w;      // (D) or (D, K): the interpolant X^T alpha
    Tensor alpha;  // (N) or (N, K): the dual coefficients, X X^T alpha = y
};

// x: (N, D) float with rank N (so D >= N); y: (N) or (N, K) float. Solves (X X^T + lambda I)
// alpha = y by Cholesky (papers.md's Eq. 3 for lambda = 0) and returns w = X^T alpha, the
// interpolant (X w = y) of least Euclidean norm. f64 results. Throws from the Cholesky, naming the
// pivot, when X X^T is not positive definite (rank < N, e.g. D < N or repeated rows).
MinNormSolution min_norm_interpolant(const Tensor& x, const Tensor& y, double lambda = 0.0);

struct LinearSgdOptions {
    double lr = 0.01;             // fixed step size
    std::int64_t epochs = 100;    // passes over the data
    std::int64_t batch_size = 1;  // examples per step (the last step of an epoch may be smaller)
    std::uint64_t seed = 0;       // example order: a fresh randperm per epoch from Generator(seed)
};

// Plain SGD on the squared loss L(w) = 1/(2B) sum_{i in batch} (w.x_i - y_i)^2 from w_0 = 0:
// w <- w - lr/B * sum_{i in batch} (w.x_i - y_i) x_i. x: (N, D) float, y: (N) float, both on the
// CPU (a scalar loop over examples; the linear problems of §5 are small). Returns w (D) f64. on_epoch (optional) is called after every epoch with its number (1-based) and the current w.
// Every step adds a combination of rows of X to w, so from w_0 = 0 the iterate stays in the row
// span {X^T a}; the only interpolant in that span is w* = X^T (X X^T)^{-1} y, the minimum-norm one
// (any other interpolant adds a null-space vector orthogonal to it). So if SGD drives the loss to
// 0 it converges to w* - the implicit regularization of papers.md §1.10.
Tensor sgd_least_squares(const Tensor& x, const Tensor& y, const LinearSgdOptions& options,
                         const std::function<void(std::int64_t epoch, const Tensor& w)>& on_epoch = {});

// ---- (b) kernel interpolation -----------------------------------------------------------------------

// labels: (N) integers in [0, classes). Returns the (N, classes) f64 one-hot matrix.
Tensor one_hot(const Tensor& labels, std::int64_t classes);

struct KernelSolution {
    Tensor x_train;      // (N, D) f64, kept for predictions
    Tensor coef;         // (N, K) f64: (K + lambda I) coef = Y
    double gamma = 0;    // K_ij = exp(-gamma ||x_i - x_j||^2)
    double lambda = 0;
    double norm = 0;     // sqrt(trace(coef^T K coef)), the RKHS norm of the fitted function
};

// x_train: (N, D) float on the CPU or a CUDA device, where the fit runs (targets are moved there);
// targets: (N, K) or (N) float (e.g. one_hot(labels)); gamma > 0 (papers.md
// §1.10: 0.02 on MNIST pixels in [0, 1]); lambda >= 0 (0: exact interpolation). Forms the N x N
// kernel matrix once and factors it in place (N^2 f64 of memory: N = 30,000 needs 7.2 GB), then
// solves for all K columns. Throws, naming the pivot, if the kernel matrix is numerically singular.
KernelSolution kernel_fit(const Tensor& x_train, const Tensor& targets, double gamma, double lambda = 0.0);

// Returns the (M, K) f64 predictions K(x, x_train) coef for x: (M, D) float, on the device of the
// solution (x is moved there).
Tensor kernel_predict(const KernelSolution& solution, const Tensor& x);

// scores: (M, K) float on any device; labels: (M) integers on the CPU. The fraction of rows whose argmax (first on ties)
// is not the label; a NaN score counts as wrong.
double classification_error(const Tensor& scores, const Tensor& labels);

struct KernelClassification {
    KernelSolution solution;
    Tensor test_scores;        // (M, classes) f64: K(x_test, x_train) coef
    double test_error = 0;     // classification_error(test_scores, test_labels)
    double train_error = 0;    // the same on the training set (0 when lambda = 0, up to ties)
};

// The whole §5 kernel experiment on one split: one-hot targets from train_labels (N) in
// [0, classes), kernel_fit with (gamma, lambda), predictions and errors on both sets. Costs the
// fit plus two more kernel evaluations (train and test rows against the training set).
KernelClassification kernel_classify(const Tensor& x_train, const Tensor& train_labels, const Tensor& x_test,
                                     const Tensor& test_labels, std::int64_t classes, double gamma,
                                     double lambda = 0.0);

}  // namespace gs::exp::zhang
