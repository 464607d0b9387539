// Minimum-norm linear interpolation, SGD on least squares, and RBF kernel interpolation, on top of
// kernels::cholesky / rbf_kernel / matmul.
#include "experiments/zhang/implicit_reg.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "kernels/cholesky.h"
#include "kernels/matmul.h"
#include "kernels/rbf.h"
#include "tensor/random.h"

namespace gs::exp::zhang {
namespace {

using i64 = std::int64_t;

Tensor as_f64_matrix(const char* op, const Tensor& x, const char* what) {
    GS_CHECK(x.defined() && x.dim() == 2 && is_floating(x.dtype()), op, ": ", what,
             " must be a float (N, D) matrix, got ", x.defined() ? x.describe() : "undefined");
    return x.to(DType::f64).contiguous();
}

// y: (N) or (N, K) float with N rows.
Tensor as_f64_targets(const char* op, const Tensor& y, i64 N) {
    GS_CHECK(y.defined() && (y.dim() == 1 || y.dim() == 2) && y.size(0) == N && is_floating(y.dtype()), op,
             ": targets must be float (N) or (N, K) with N = ", N, ", got ", y.defined() ? y.describe() : "undefined");
    return y.to(DType::f64).contiguous();
}

}  // namespace

MinNormSolution min_norm_interpolant(const Tensor& x_in, const Tensor& y_in, double lambda) {
    const char* op = "min_norm_interpolant";
    const Tensor x = as_f64_matrix(op, x_in, "x");
    const Tensor y = as_f64_targets(op, y_in, x.size(0));
    GS_CHECK(x.size(1) >= x.size(0) || lambda > 0, op, ": X X^T (N x N) has rank <= D < N for x ",
             x.describe(), ", so no exact interpolant in general; use lambda > 0 or D >= N");
    // The Gram matrix G = X X^T (N x N), then G alpha = y and w = X^T alpha.
    Tensor gram = kernels::matmul(x, x.t());
    MinNormSolution s;
    s.alpha = kernels::cholesky_solve(gram, y, lambda);
    s.w = kernels::matmul(x.t(), s.alpha);
    return s;
}

Tensor sgd_least_squares(const Tensor& x_in, const Tensor& y_in, const LinearSgdOptions& o,
                         const std::function<void(i64, const Tensor&)>& on_epoch) {
    const char* op = "sgd_least_squares";
    GS_CHECK(x_in.defined() && x_in.device().is_cpu(), op, ": runs on the CPU (a scalar loop over examples), x is ",
             x_in.defined() ? x_in.describe() : "undefined");
    const Tensor x = as_f64_matrix(op, x_in, "x");
    const i64 N = x.size(0), D = x.size(1);
    GS_CHECK(y_in.defined() && y_in.dim() == 1, op, ": targets must be (N) for SGD, got ",
             y_in.defined() ? y_in.describe() : "undefined");
    const Tensor y = as_f64_targets(op, y_in, N);
    GS_CHECK(std::isfinite(o.lr) && o.lr > 0, op, ": lr must be finite and > 0, got ", o.lr);
    GS_CHECK(o.epochs >= 0 && o.batch_size >= 1, op, ": need epochs >= 0 and batch_size >= 1, got ", o.epochs,
             " and ", o.batch_size);
    const double* xp = x.data<double>();
    const double* yp = y.data<double>();
    Tensor w = Tensor::zeros({D}, DType::f64);  // w_0 = 0: the start that keeps w in the row span
    double* wp = w.data<double>();
    Generator gen(o.seed);
    std::vector<double> r;
    for (i64 epoch = 1; epoch <= o.epochs; ++epoch) {
        const std::vector<i64> perm = randperm(N, gen).to_vector<i64>();
        for (i64 start = 0; start < N; start += o.batch_size) {
            const i64 B = std::min(o.batch_size, N - start);
            // Residuals of the whole batch at the current w first, then one update with their mean
            // gradient: a minibatch step, not B sequential steps.
            r.assign(std::size_t(B), 0.0);
            for (i64 k = 0; k < B; ++k) {
                const double* xi = xp + perm[std::size_t(start + k)] * D;
                double dot = 0;
                for (i64 d = 0; d < D; ++d) dot += wp[d] * xi[d];
                r[std::size_t(k)] = dot - yp[perm[std::size_t(start + k)]];
            }
            const double scale = o.lr / double(B);
            for (i64 k = 0; k < B; ++k) {
                const double* xi = xp + perm[std::size_t(start + k)] * D;
                const double c = scale * r[std::size_t(k)];
                for (i64 d = 0; d < D; ++d) wp[d] -= c * xi[d];
            }
        }
        if (on_epoch) on_epoch(epoch, w);
    }
    return w;
}

Tensor one_hot(const Tensor& labels, i64 classes) {
    const char* op = "one_hot";
    GS_CHECK(labels.defined() && labels.dim() == 1, op, ": labels must be (N), got ",
             labels.defined() ? labels.describe() : "undefined");
    GS_CHECK(classes >= 1, op, ": classes must be >= 1, got ", classes);
    const std::vector<i64> l = labels.to_vector<i64>();
    Tensor out = Tensor::zeros({labels.size(0), classes}, DType::f64);
    double* p = out.data<double>();
    for (std::size_t i = 0; i < l.size(); ++i) {
        GS_CHECK(l[i] >= 0 && l[i] < classes, op, ": label ", i, " is ", l[i], ", outside [0, ", classes, ")");
        p[i * std::size_t(classes) + std::size_t(l[i])] = 1.0;
    }
    return out;
}

KernelSolution kernel_fit(const Tensor& x_in, const Tensor& targets, double gamma, double lambda) {
    const char* op = "kernel_fit";
    KernelSolution s;
    s.x_train = as_f64_matrix(op, x_in, "x_train");
    const i64 N = s.x_train.size(0);
    Tensor y = as_f64_targets(op, targets, N).to(s.x_train.device());
    if (y.dim() == 1) y = y.unsqueeze(1);
    GS_CHECK(std::isfinite(gamma) && gamma > 0, op, ": gamma must be finite and > 0, got ", gamma);
    GS_CHECK(std::isfinite(lambda) && lambda >= 0, op, ": lambda must be finite and >= 0, got ", lambda);
    s.gamma = gamma;
    s.lambda = lambda;
    // One N x N buffer: the kernel matrix, overwritten by its factor.
    Tensor k = kernels::rbf_kernel(s.x_train, s.x_train, gamma);
    kernels::cholesky_inplace(k, lambda);
    s.coef = kernels::cholesky_solve_factored(k, y);
    // The RKHS norm^2 = trace(c^T K c). K itself is gone (factored in place), but (K + lambda I) c
    // = Y gives c^T K c = c^T (Y - lambda c) exactly in exact arithmetic, at O(N K) cost.
    const std::vector<double> c = s.coef.to(Device::cpu()).to_vector<double>(),
                              t = y.to(Device::cpu()).to_vector<double>();
    double sq = 0;
    for (std::size_t i = 0; i < c.size(); ++i) sq += c[i] * (t[i] - lambda * c[i]);
    s.norm = std::sqrt(std::max(sq, 0.0));
    return s;
}

Tensor kernel_predict(const KernelSolution& s, const Tensor& x_in) {
    const char* op = "kernel_predict";
    GS_CHECK(s.x_train.defined() && s.coef.defined(), op, ": the solution is empty");
    const Tensor x = as_f64_matrix(op, x_in, "x").to(s.x_train.device());
    GS_CHECK(x.size(1) == s.x_train.size(1), op, ": x has ", x.size(1), " features, the training data ",
             s.x_train.size(1));
    // (M, N) kernel rows times (N, K) coefficients, in row blocks so that M x N never has to fit at
    // once (10,000 test x 60,000 train would be 4.8 GB).
    const i64 M = x.size(0), N = s.x_train.size(0), K = s.coef.size(1);
    const i64 block = std::max<i64>(1, (i64(1) << 25) / std::max<i64>(N, 1));  // ~256 MB of kernel rows
    Tensor out = Tensor::empty({M, K}, DType::f64, s.x_train.device());
    for (i64 m0 = 0; m0 < M; m0 += block) {
        const i64 mb = std::min(block, M - m0);
        const Tensor kx = kernels::rbf_kernel(x.narrow(0, m0, mb), s.x_train, s.gamma);
        out.narrow(0, m0, mb).copy_(kernels::matmul(kx, s.coef));
    }
    return out;
}

double classification_error(const Tensor& scores, const Tensor& labels) {
    const char* op = "classification_error";
    GS_CHECK(scores.defined() && labels.defined() && scores.dim() == 2 && labels.dim() == 1 &&
                 scores.size(0) == labels.size(0) && scores.size(1) >= 1,
             op, ": expected scores (M, K) and labels (M), got ", scores.defined() ? scores.describe() : "undefined",
             " and ", labels.defined() ? labels.describe() : "undefined");
    const i64 M = scores.size(0), K = scores.size(1);
    if (M == 0) return 0.0;
    const std::vector<double> sc = scores.to(Device::cpu()).to_vector<double>();
    const std::vector<i64> l = labels.to_vector<i64>();
    i64 wrong = 0;
    for (i64 m = 0; m < M; ++m) {
        const double* row = sc.data() + m * K;
        i64 best = 0;
        bool nan = std::isnan(row[0]);
        for (i64 k = 1; k < K; ++k) {
            nan = nan || std::isnan(row[k]);
            if (row[k] > row[best]) best = k;
        }
        if (nan || best != l[std::size_t(m)]) ++wrong;
    }
    return double(wrong) / double(M);
}

KernelClassification kernel_classify(const Tensor& x_train, const Tensor& train_labels, const Tensor& x_test,
                                     const Tensor& test_labels, i64 classes, double gamma, double lambda) {
    KernelClassification r;
    r.solution = kernel_fit(x_train, one_hot(train_labels, classes), gamma, lambda);
    r.test_scores = kernel_predict(r.solution, x_test);
    r.test_error = classification_error(r.test_scores, test_labels);
    r.train_error = classification_error(kernel_predict(r.solution, x_train), train_labels);
    return r;
}

}  // namespace gs::exp::zhang
