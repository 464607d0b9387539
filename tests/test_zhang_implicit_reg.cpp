// Section 5 of Zhang et al. (experiments/zhang/implicit_reg.h): the minimum-norm interpolant
// (interpolates, is orthogonal to the null space, is what SGD from zero converges to), and RBF
// kernel interpolation (exact on the training set, regularized solve against a naive one).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "experiments/zhang/implicit_reg.h"
#include "kernels/matmul.h"
#include "tensor/error.h"
#include "test_util.h"

namespace {

using gs::Tensor;
using i64 = std::int64_t;
namespace zh = gs::exp::zhang;

double norm(const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x * x;
    return std::sqrt(s);
}

double dot(const std::vector<double>& a, const std::vector<double>& b) {
    double s = 0;
    for (std::size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
    return s;
}

std::vector<double> sub(const std::vector<double>& a, const std::vector<double>& b) {
    std::vector<double> r(a.size());
    for (std::size_t i = 0; i < a.size(); ++i) r[i] = a[i] - b[i];
    return r;
}

// Dense Gaussian elimination with partial pivoting in long double: the naive reference solve.
std::vector<double> naive_solve(std::vector<long double> a, std::vector<long double> b, i64 n, i64 m) {
    for (i64 c = 0; c < n; ++c) {
        i64 p = c;
        for (i64 r = c + 1; r < n; ++r)
            if (std::abs(a[std::size_t(r * n + c)]) > std::abs(a[std::size_t(p * n + c)])) p = r;
        for (i64 k = 0; k < n; ++k) std::swap(a[std::size_t(c * n + k)], a[std::size_t(p * n + k)]);
        for (i64 k = 0; k < m; ++k) std::swap(b[std::size_t(c * m + k)], b[std::size_t(p * m + k)]);
        for (i64 r = c + 1; r < n; ++r) {
            const long double f = a[std::size_t(r * n + c)] / a[std::size_t(c * n + c)];
            for (i64 k = c; k < n; ++k) a[std::size_t(r * n + k)] -= f * a[std::size_t(c * n + k)];
            for (i64 k = 0; k < m; ++k) b[std::size_t(r * m + k)] -= f * b[std::size_t(c * m + k)];
        }
    }
    std::vector<double> x(static_cast<std::size_t>(n * m));
    for (i64 r = n - 1; r >= 0; --r)
        for (i64 k = 0; k < m; ++k) {
            long double s = b[std::size_t(r * m + k)];
            for (i64 c = r + 1; c < n; ++c) s -= a[std::size_t(r * n + c)] * x[std::size_t(c * m + k)];
            x[std::size_t(r * m + k)] = double(s / a[std::size_t(r * n + r)]);
        }
    return x;
}

constexpr double kEps = std::numeric_limits<double>::epsilon();

}  // namespace

TEST_CASE("min-norm interpolant interpolates and is orthogonal to the null space") {
    const i64 N = 20, D = 60;
    const Tensor x = gs::test::randn<double>({N, D}, 1);
    const Tensor y = gs::test::randn<double>({N}, 2);
    const zh::MinNormSolution s = zh::min_norm_interpolant(x, y);
    REQUIRE(s.w.shape() == gs::Shape{D});
    REQUIRE(s.alpha.shape() == gs::Shape{N});
    // X X^T for Gaussian X (20 x 60) has cond ~ ((1 + sqrt(1/3)) / (1 - sqrt(1/3)))^2 ~ 14, so
    // the interpolation error is a few hundred eps of ||y||.
    const double fit_err = gs::test::max_abs_diff(gs::kernels::matmul(x, s.w), y);
    CHECK(fit_err <= 1e3 * kEps * norm(y.to_vector<double>()));
    // A null-space vector: v minus its projection X^T (X X^T)^{-1} X v onto the row span, which is
    // the min-norm interpolant of the targets X v.
    const Tensor v = gs::test::randn<double>({D}, 3);
    const Tensor proj = zh::min_norm_interpolant(x, gs::kernels::matmul(x, v)).w;
    const std::vector<double> vn = sub(v.to_vector<double>(), proj.to_vector<double>());
    const std::vector<double> w = s.w.to_vector<double>();
    CHECK(gs::test::max_abs_diff(gs::kernels::matmul(x, Tensor::from_vector(vn)), std::vector<double>(N, 0.0)) <=
          1e3 * kEps * norm(v.to_vector<double>()));
    // w* . v_null = 0 (up to rounding relative to the norms): so every other interpolant
    // w* + v_null is strictly longer, ||w*||^2 + ||v_null||^2.
    CHECK(std::abs(dot(w, vn)) <= 1e3 * kEps * norm(w) * norm(vn));
    std::vector<double> other = w;
    for (std::size_t i = 0; i < other.size(); ++i) other[i] += vn[i];
    CHECK(norm(other) > norm(w));
    // Several right-hand sides at once give the columns one by one.
    const Tensor y2 = gs::test::randn<double>({N, 3}, 4);
    const zh::MinNormSolution s2 = zh::min_norm_interpolant(x, y2);
    REQUIRE(s2.w.shape() == gs::Shape{D, 3});
    CHECK(gs::test::max_abs_diff(s2.w.select(1, 1), zh::min_norm_interpolant(x, y2.select(1, 1).contiguous()).w) <=
          1e2 * kEps * norm(s2.w.to_vector<double>()));
    // D < N has no exact interpolant: rejected unless regularized.
    CHECK_THROWS_WITH_AS(zh::min_norm_interpolant(x.t().contiguous().narrow(0, 0, 30), gs::test::randn<double>({30}, 5)),
                         doctest::Contains("has rank <= D < N"), gs::Error);
}

TEST_CASE("SGD from zero converges to the min-norm interpolant") {
    const i64 N = 20, D = 60;
    const Tensor x = gs::test::randn<double>({N, D}, 11);
    const Tensor y = gs::test::randn<double>({N}, 12);
    const std::vector<double> w_star = zh::min_norm_interpolant(x, y).w.to_vector<double>();
    double max_row_sq = 0;
    for (i64 i = 0; i < N; ++i) max_row_sq = std::max(max_row_sq, norm(x.select(0, i).to_vector<double>()) *
                                                                      norm(x.select(0, i).to_vector<double>()));
    // Batch 1 with lr = 1 / max ||x_i||^2 is a randomized Kaczmarz method: the error contracts
    // linearly, by ~(1 - sigma_min(X)^2 / (N max||x_i||^2)) per step, ~0.85 per epoch here, so
    // 400 epochs leave ~1e-28 of the start: the distance is pure rounding, ~1e3 eps ||w*||.
    for (i64 batch : {1, 4}) {
        CAPTURE(batch);
        zh::LinearSgdOptions o;
        o.lr = 1.0 / max_row_sq * (batch == 1 ? 1.0 : 2.0);  // a mean gradient over 4 can take a longer step
        o.epochs = batch == 1 ? 400 : 1500;
        o.batch_size = batch;
        o.seed = 7;
        i64 calls = 0;
        double first_dist = 0;
        const Tensor w_sgd = zh::sgd_least_squares(x, y, o, [&](i64 epoch, const Tensor& w) {
            ++calls;
            if (epoch == 1) first_dist = norm(sub(w.to_vector<double>(), w_star));
        });
        CHECK(calls == o.epochs);
        const double dist = norm(sub(w_sgd.to_vector<double>(), w_star));
        INFO("||w_sgd - w*|| = ", dist, " after ", o.epochs, " epochs (", first_dist, " after 1), ||w*|| = ",
             norm(w_star));
        CHECK(dist <= 1e-10 * norm(w_star));
        CHECK(first_dist > 1e-3 * norm(w_star));  // the test can fail: one epoch is far from w*
    }
    // SGD from zero never leaves the row span, even long before convergence: after 2 epochs w_sgd
    // equals its own projection X^T (X X^T)^{-1} X w_sgd.
    const zh::LinearSgdOptions early{.lr = 1.0 / max_row_sq, .epochs = 2, .batch_size = 1, .seed = 1};
    const Tensor w2 = zh::sgd_least_squares(x, y, early);
    const Tensor p2 = zh::min_norm_interpolant(x, gs::kernels::matmul(x, w2)).w;
    CHECK(gs::test::max_abs_diff(w2, p2) <= 1e3 * kEps * norm(w2.to_vector<double>()));
    CHECK_THROWS_WITH_AS(zh::sgd_least_squares(x, y, {.lr = -1.0}), doctest::Contains("lr must be finite and > 0"),
                         gs::Error);
}

TEST_CASE("RBF kernel solve interpolates the training targets") {
    const i64 N = 60, D = 5, C = 3;
    gs::Generator g(3);
    const Tensor x = gs::uniform({N, D}, g, 0.0, 1.0, gs::DType::f64);
    const Tensor labels = gs::test::labels_for(N, C, 4);
    const Tensor Y = zh::one_hot(labels, C);
    // gamma = 5 on points in [0, 1]^5: off-diagonal entries ~exp(-4), so K is well conditioned
    // (cond ~ 10) and the interpolation error stays within ~1e3 eps.
    const zh::KernelSolution s = zh::kernel_fit(x, Y, 5.0);
    const Tensor fit = zh::kernel_predict(s, x);
    REQUIRE(fit.shape() == gs::Shape{N, C});
    CHECK(gs::test::max_abs_diff(fit, Y) <= 1e3 * kEps);
    CHECK(zh::classification_error(fit, labels) == 0.0);
    // The norm is sqrt(trace(c^T K c)) with K computed naively here.
    const auto xv = x.to_vector<double>(), c = s.coef.to_vector<double>();
    double sq = 0;
    for (i64 i = 0; i < N; ++i)
        for (i64 j = 0; j < N; ++j) {
            double d2 = 0;
            for (i64 d = 0; d < D; ++d) {
                const double t = xv[std::size_t(i * D + d)] - xv[std::size_t(j * D + d)];
                d2 += t * t;
            }
            const double k = std::exp(-5.0 * d2);
            for (i64 m = 0; m < C; ++m) sq += c[std::size_t(i * C + m)] * k * c[std::size_t(j * C + m)];
        }
    CHECK(s.norm == doctest::Approx(std::sqrt(sq)).epsilon(1e-10));
    // Vector targets work as one column.
    const zh::KernelSolution s1 = zh::kernel_fit(x, Y.select(1, 0).contiguous(), 5.0);
    CHECK(gs::test::max_abs_diff(s1.coef.select(1, 0), s.coef.select(1, 0)) == 0.0);
}

TEST_CASE("regularized RBF kernel solve matches a naive solve") {
    const i64 N = 40, D = 3, C = 2;
    gs::Generator g(8);
    const Tensor x = gs::uniform({N, D}, g, 0.0, 1.0, gs::DType::f64);
    const Tensor Y = gs::test::randn<double>({N, C}, 9);
    const double gamma = 0.5, lambda = 0.1;  // a smooth kernel: K alone is ill conditioned, K + 0.1 I is not
    const zh::KernelSolution s = zh::kernel_fit(x, Y, gamma, lambda);
    std::vector<long double> a(static_cast<std::size_t>(N * N)), b;
    for (i64 i = 0; i < N; ++i)
        for (i64 j = 0; j < N; ++j) {
            long double d2 = 0;
            for (i64 d = 0; d < D; ++d) {
                const long double t = (long double)x.at<double>({i, d}) - x.at<double>({j, d});
                d2 += t * t;
            }
            a[std::size_t(i * N + j)] = std::exp(-(long double)gamma * d2) + (i == j ? lambda : 0.0);
        }
    for (double v : Y.to_vector<double>()) b.push_back(v);
    const std::vector<double> want = naive_solve(a, b, N, C);
    // cond(K + lambda I) <= (N + lambda) / lambda ~ 400: the solve loses that factor over eps.
    double scale = 0;
    for (double v : want) scale = std::max(scale, std::abs(v));
    CHECK(gs::test::max_abs_diff(s.coef, want) <= 400 * 64 * kEps * scale);
    // The regularized fit no longer interpolates: the training residual is lambda * c.
    const Tensor fit = zh::kernel_predict(s, x);
    CHECK(gs::test::max_abs_diff(fit, Y) > 1e-3);
    // Test predictions are K(x_test, x_train) c.
    const Tensor xt = gs::uniform({7, D}, g, 0.0, 1.0, gs::DType::f64);
    const Tensor pt = zh::kernel_predict(s, xt);
    for (i64 m = 0; m < 7; ++m)
        for (i64 k = 0; k < C; ++k) {
            double p = 0;
            for (i64 i = 0; i < N; ++i) {
                double d2 = 0;
                for (i64 d = 0; d < D; ++d) {
                    const double t = xt.at<double>({m, d}) - x.at<double>({i, d});
                    d2 += t * t;
                }
                p += std::exp(-gamma * d2) * s.coef.at<double>({i, k});
            }
            CHECK(pt.at<double>({m, k}) == doctest::Approx(p).epsilon(1e-12).scale(1.0));
        }
}

TEST_CASE("kernel_classify separates two blobs and interpolates its training set") {
    // Two well separated Gaussian blobs (centres 0 and 3 in every coordinate, std 0.5): the
    // interpolating kernel classifier must get (almost) every test point right.
    const i64 N = 80, M = 40, D = 4;
    auto blobs = [&](i64 n, std::uint64_t seed, Tensor& labels) {
        Tensor x = gs::test::randn<double>({n, D}, seed, 0.0, 0.5);
        labels = gs::test::labels_for(n, 2, seed + 1);
        for (i64 i = 0; i < n; ++i)
            for (i64 d = 0; d < D; ++d) x.data<double>()[i * D + d] += 3.0 * double(labels.at<i64>({i}));
        return x;
    };
    Tensor ltr, lte;
    const Tensor xtr = blobs(N, 30, ltr), xte = blobs(M, 40, lte);
    const zh::KernelClassification r = zh::kernel_classify(xtr, ltr, xte, lte, 2, 0.5);
    CHECK(r.train_error == 0.0);
    CHECK(r.test_error <= 0.05);
    REQUIRE(r.test_scores.shape() == gs::Shape{M, 2});
    CHECK(r.solution.norm > 0);
}

TEST_CASE("one_hot and classification_error") {
    using doctest::Contains;
    const Tensor l = Tensor::from_vector<std::int64_t>({2, 0, 1});
    const Tensor oh = zh::one_hot(l, 3);
    CHECK(oh.to_vector<double>() == std::vector<double>{0, 0, 1, 1, 0, 0, 0, 1, 0});
    CHECK_THROWS_WITH_AS(zh::one_hot(l, 2), Contains("label 0 is 2, outside [0, 2)"), gs::Error);
    const Tensor scores = Tensor::from_vector<double>({0.1, 0.2, 0.9, 1, 0, 0, 0.5, 0.5, NAN}, {3, 3});
    // Row 0 right, row 1 right, row 2 has a NaN: wrong.
    CHECK(zh::classification_error(scores, l) == doctest::Approx(1.0 / 3.0));
    CHECK_THROWS_WITH_AS(zh::classification_error(scores, Tensor::from_vector<std::int64_t>({1})),
                         Contains("expected scores (M, K) and labels (M)"), gs::Error);
}
