// Per-example loss kernels against naive double-precision loops.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/loss.h"
#include "tensor/random.h"
#include "test_util.h"

using gs::Shape;
using gs::Tensor;
namespace k = gs::kernels;
using gs::test::labels_for;
using gs::test::max_abs_diff;
using gs::test::pm1;
using gs::test::randn;

namespace {

const std::int64_t kNs[] = {1, 2, 7};
const std::int64_t kCs[] = {1, 3, 33};

}  // namespace

TEST_CASE_TEMPLATE("softmax_cross_entropy matches a naive reference", T, float, double) {
    // f32: losses are O(10) (logits with std 3); rounding in log-sum-exp stays below 1e-5 relative.
    const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-12;
    for (std::int64_t N : kNs)
        for (std::int64_t C : kCs) {
            CAPTURE(N);
            CAPTURE(C);
            const Tensor x = randn<T>({N, C}, 1, 0.0, 3.0), labels = labels_for(N, C, 2), dl = randn<T>({N}, 3);
            const auto r = k::softmax_cross_entropy(x, labels);
            CHECK(r.loss.shape() == Shape{N});
            std::vector<double> loss(N), dx(N * C);
            for (std::int64_t n = 0; n < N; ++n) {
                double s = 0;
                for (std::int64_t j = 0; j < C; ++j) s += std::exp(x.at<double>({n, j}));
                const std::int64_t y = labels.at<std::int64_t>({n});
                loss[n] = std::log(s) - x.at<double>({n, y});
                for (std::int64_t j = 0; j < C; ++j)
                    dx[n * C + j] = (std::exp(x.at<double>({n, j})) / s - (j == y)) * dl.at<double>({n});
            }
            CHECK(max_abs_diff(r.loss, loss) < tol);
            CHECK(max_abs_diff(k::softmax_cross_entropy_backward(dl, r.log_probs, labels), dx) < tol);
        }
}

TEST_CASE("softmax_cross_entropy rejects labels outside 0..C-1 and propagates NaN") {
    const Tensor x = Tensor::zeros({3, 5});
    CHECK_THROWS_WITH_AS(k::softmax_cross_entropy(x, Tensor::from_vector<std::int64_t>({0, 4, 5})),
                         doctest::Contains("label 5 of example 2 is outside [0, C) with C = 5"), gs::Error);
    CHECK_THROWS_WITH_AS(k::softmax_cross_entropy(x, Tensor::from_vector<std::int64_t>({0, -1, 1})),
                         doctest::Contains("label -1 of example 1"), gs::Error);
    CHECK_THROWS_WITH_AS(k::multiclass_hinge(x, Tensor::from_vector<std::int64_t>({7, 0, 1})),
                         doctest::Contains("label 7 of example 0"), gs::Error);
    CHECK_THROWS_WITH_AS(k::softmax_cross_entropy(x, Tensor::from_vector<double>({0, 1, 2})),
                         doctest::Contains("i64"), gs::Error);
    CHECK_THROWS_WITH_AS(k::softmax_cross_entropy(x, Tensor::from_vector<std::int64_t>({0, 1})),
                         doctest::Contains("labels of shape [3]"), gs::Error);
    CHECK_THROWS_WITH_AS(k::softmax_cross_entropy_backward(Tensor::zeros({2}), x,
                                                           Tensor::from_vector<std::int64_t>({0, 1, 2})),
                         doctest::Contains("dloss of shape [3]"), gs::Error);
    CHECK(k::softmax_cross_entropy(Tensor::zeros({0, 5}), Tensor::zeros({0}, gs::DType::i64)).loss.numel() == 0);

    const float nan = std::numeric_limits<float>::quiet_NaN();
    const Tensor xn = Tensor::from_vector<float>({0, nan, 1, 2, 3, 4}, {2, 3});
    const auto loss = k::softmax_cross_entropy(xn, Tensor::from_vector<std::int64_t>({0, 1})).loss.to_vector<float>();
    CHECK(std::isnan(loss[0]));
    CHECK_FALSE(std::isnan(loss[1]));
}

TEST_CASE_TEMPLATE("multiclass_hinge matches a naive reference", T, float, double) {
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;  // sums of C O(1) terms / C
    for (double margin : {1.0, 0.5})
        for (std::int64_t N : kNs)
            for (std::int64_t C : kCs) {
                CAPTURE(N);
                CAPTURE(C);
                const Tensor x = randn<T>({N, C}, 4), labels = labels_for(N, C, 5), dl = randn<T>({N}, 6);
                std::vector<double> loss(N, 0.0), dx(N * C, 0.0);
                for (std::int64_t n = 0; n < N; ++n) {
                    const std::int64_t y = labels.at<std::int64_t>({n});
                    for (std::int64_t j = 0; j < C; ++j) {
                        if (j == y) continue;
                        const double v = margin - x.at<double>({n, y}) + x.at<double>({n, j});
                        if (v > 0) {
                            loss[n] += v / double(C);
                            dx[n * C + j] += dl.at<double>({n}) / double(C);
                            dx[n * C + y] -= dl.at<double>({n}) / double(C);
                        }
                    }
                }
                CHECK(max_abs_diff(k::multiclass_hinge(x, labels, margin), loss) < tol);
                CHECK(max_abs_diff(k::multiclass_hinge_backward(dl, x, labels, margin), dx) < tol);
            }
}

TEST_CASE("multiclass_hinge follows the MultiMarginLoss convention and propagates NaN") {
    // x = [1, 2, 0.5], y = 0: terms j=1: max(0, 1-1+2) = 2; j=2: max(0, 1-1+0.5) = 0.5; / C=3.
    const Tensor x = Tensor::from_vector<double>({1, 2, 0.5}, {1, 3});
    const Tensor y = Tensor::from_vector<std::int64_t>({0});
    CHECK(k::multiclass_hinge(x, y).item() == doctest::Approx(2.5 / 3));
    const auto dx = k::multiclass_hinge_backward(Tensor::ones({1}, gs::DType::f64), x, y).to_vector<double>();
    CHECK(dx == std::vector<double>{-2.0 / 3, 1.0 / 3, 1.0 / 3});
    const Tensor xn = Tensor::from_vector<double>({1, std::numeric_limits<double>::quiet_NaN(), 0.5}, {1, 3});
    CHECK(std::isnan(k::multiclass_hinge(xn, y).item()));
    CHECK_THROWS_WITH_AS(k::multiclass_hinge(x, y, INFINITY), doctest::Contains("margin"), gs::Error);
}

TEST_CASE_TEMPLATE("binary_hinge matches a naive reference", T, float, double) {
    for (std::int64_t N : {1, 7, 33})
        for (bool column : {false, true}) {
            CAPTURE(N);
            CAPTURE(column);
            const Tensor x = column ? randn<T>({N, 1}, 7) : randn<T>({N}, 7);
            const Tensor t = pm1<T>(N, 8), dl = randn<T>({N}, 9);
            std::vector<double> loss(N), dx(N);
            for (std::int64_t n = 0; n < N; ++n) {
                const double xv = x.flatten().at<double>({n}), tv = t.at<double>({n});
                loss[n] = std::max(0.0, 1 - tv * xv);
                dx[n] = 1 - tv * xv > 0 ? -tv * dl.at<double>({n}) : 0.0;
            }
            const Tensor l = k::binary_hinge(x, t);
            CHECK(l.shape() == Shape{N});
            // Exact: one multiply-subtract per element; f32 rounds the same ops the reference does.
            CHECK(max_abs_diff(l, loss) < 1e-6);
            const Tensor g = k::binary_hinge_backward(dl, x, t);
            CHECK(g.shape() == x.shape());
            CHECK(max_abs_diff(g, dx) == 0.0);
        }
}

TEST_CASE("binary_hinge validates targets") {
    const Tensor x = Tensor::zeros({3});
    CHECK_THROWS_WITH_AS(k::binary_hinge(x, Tensor::from_vector<float>({1, 0, -1})),
                         doctest::Contains("target 0 of example 1 is not -1 or +1"), gs::Error);
    CHECK_THROWS_WITH_AS(k::binary_hinge(x, Tensor::from_vector<std::int64_t>({1, -1, 1})),
                         doctest::Contains("logits' dtype"), gs::Error);
    CHECK_THROWS_WITH_AS(k::binary_hinge(Tensor::zeros({3, 2}), Tensor::from_vector<float>({1, -1, 1})),
                         doctest::Contains("(N) or (N, 1)"), gs::Error);
    CHECK_THROWS_WITH_AS(k::binary_hinge(x, Tensor::from_vector<float>({1, -1})),
                         doctest::Contains("targets of shape [3]"), gs::Error);
    CHECK(std::isnan(k::binary_hinge(Tensor::from_vector<float>({NAN}), Tensor::from_vector<float>({1})).item()));
}

TEST_CASE_TEMPLATE("mse matches a naive reference", T, float, double) {
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;  // means of O(1) squares
    for (const Shape& shape : {Shape{1}, Shape{7}, Shape{7, 3}, Shape{2, 33}, Shape{3, 3, 5, 5}}) {
        CAPTURE(gs::shape_str(shape));
        const Tensor x = randn<T>(shape, 10), t = randn<T>(shape, 11), dl = randn<T>({shape[0]}, 12);
        const std::int64_t N = shape[0], D = x.numel() / N;
        const auto xv = x.to_vector<double>(), tv = t.to_vector<double>();
        std::vector<double> loss(N, 0.0), dx(x.numel()), dt(x.numel());
        for (std::int64_t n = 0; n < N; ++n)
            for (std::int64_t i = n * D; i < (n + 1) * D; ++i) {
                loss[n] += (xv[i] - tv[i]) * (xv[i] - tv[i]) / double(D);
                dx[i] = 2 * (xv[i] - tv[i]) / double(D) * dl.at<double>({n});
                dt[i] = -dx[i];
            }
        const Tensor l = k::mse(x, t);
        CHECK(l.shape() == Shape{N});
        CHECK(max_abs_diff(l, loss) < tol);
        const auto g = k::mse_backward(dl, x, t, true, true);
        CHECK(g.dinput.shape() == shape);
        CHECK(max_abs_diff(g.dinput, dx) < tol);
        CHECK(max_abs_diff(g.dtarget, dt) < tol);
        const auto only = k::mse_backward(dl, x, t, false, true);
        CHECK_FALSE(only.dinput.defined());
        CHECK(max_abs_diff(only.dtarget, dt) < tol);
    }
    CHECK_THROWS_WITH_AS(k::mse(Tensor::zeros({2, 3}), Tensor::zeros({3, 2})), doctest::Contains("same shape"),
                         gs::Error);
    CHECK_THROWS_AS(k::mse(Tensor::scalar(1.0), Tensor::scalar(1.0)), gs::Error);
}
