// kernels::pairwise_sq_dist and rbf_kernel against a naive difference-of-rows loop: odd shapes,
// f32/f64, the exact self-kernel (symmetric, unit diagonal), clamping, strided inputs, NaN, errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/rbf.h"
#include "tensor/error.h"
#include "test_util.h"

namespace {

using gs::Tensor;
using i64 = std::int64_t;

// out_ij = sum_d (x_id - y_jd)^2 in long double: the direct form, with no cancellation.
std::vector<double> naive_sq_dist(const Tensor& x, const Tensor& y) {
    const i64 N = x.size(0), M = y.size(0), D = x.size(1);
    std::vector<double> out;
    for (i64 i = 0; i < N; ++i)
        for (i64 j = 0; j < M; ++j) {
            long double s = 0;
            for (i64 d = 0; d < D; ++d) {
                const long double t = (long double)x.at<double>({i, d}) - y.at<double>({j, d});
                s += t * t;
            }
            out.push_back(double(s));
        }
    return out;
}

// The expansion ||x||^2 + ||y||^2 - 2 x.y loses absolute accuracy in proportion to the norms (the
// cancellation when x ~ y), so the tolerance is a few (D-term sum) roundings of ||x||^2 + ||y||^2.
template <class T>
double dist_tol(const Tensor& x, const Tensor& y) {
    double m = 0;
    for (const Tensor* t : {&x, &y})
        for (i64 r = 0; r < t->size(0); ++r) {
            double s = 0;
            for (i64 d = 0; d < t->size(1); ++d) s += t->at<double>({r, d}) * t->at<double>({r, d});
            m = std::max(m, s);
        }
    return 8.0 * double(std::numeric_limits<T>::epsilon()) * double(x.size(1) + 4) * 2.0 * m;
}

}  // namespace

TEST_CASE_TEMPLATE("pairwise_sq_dist and rbf_kernel match a naive loop", T, float, double) {
    struct Case { i64 N, M, D; };
    for (Case c : {Case{1, 1, 1}, Case{7, 5, 3}, Case{33, 17, 65}, Case{129, 40, 7}}) {
        CAPTURE(c.N);
        CAPTURE(c.D);
        gs::Generator g(c.N * 100 + c.D);
        const Tensor x = gs::test::randu<T>({c.N, c.D}, g), y = gs::test::randu<T>({c.M, c.D}, g);
        const auto want = naive_sq_dist(x, y);
        const double tol = dist_tol<T>(x, y);
        const Tensor d = gs::kernels::pairwise_sq_dist(x, y);
        REQUIRE(d.shape() == gs::Shape{c.N, c.M});
        CHECK(gs::test::max_abs_diff(d, want) <= tol);
        const double gamma = 0.3;
        std::vector<double> want_k;
        for (double v : want) want_k.push_back(std::exp(-gamma * v));
        // exp is 1-Lipschitz in gamma*d for d >= 0, so the kernel inherits gamma * the distance error
        // plus one rounding of exp.
        const Tensor k = gs::kernels::rbf_kernel(x, y, gamma);
        CHECK(gs::test::max_abs_diff(k, want_k) <= gamma * tol + 4 * double(std::numeric_limits<T>::epsilon()));
    }
}

TEST_CASE_TEMPLATE("rbf_kernel of x with itself is exactly symmetric with a unit diagonal", T, float, double) {
    gs::Generator g(5);
    // Rows far from the origin: the expansion's cancellation would leave noise on the diagonal.
    const Tensor x = gs::uniform({65, 9}, g, 100.0, 101.0, gs::dtype_of<T>());
    const Tensor k = gs::kernels::rbf_kernel(x, x, 0.02);
    const Tensor d = gs::kernels::pairwise_sq_dist(x, x);
    for (i64 i = 0; i < 65; ++i) {
        CHECK(k.at<double>({i, i}) == 1.0);
        CHECK(d.at<double>({i, i}) == 0.0);
        for (i64 j = 0; j < 65; ++j) REQUIRE(k.at<double>({i, j}) == k.at<double>({j, i}));
    }
    // A copy of x is a different view: then only the clamp keeps the distances >= 0.
    const Tensor d2 = gs::kernels::pairwise_sq_dist(x, x.clone());
    for (double v : d2.to_vector<double>()) REQUIRE(v >= 0.0);
    CHECK(gs::test::max_abs_diff(d2, naive_sq_dist(x, x)) <= dist_tol<T>(x, x));
}

TEST_CASE("rbf_kernel takes strided views and propagates NaN and checks its inputs") {
    using doctest::Contains;
    gs::Generator g(3);
    const Tensor xt = gs::test::randu<double>({4, 7}, g).t();  // (7, 4), non-contiguous
    const Tensor y = gs::test::randu<double>({3, 4}, g);
    CHECK(gs::test::max_abs_diff(gs::kernels::pairwise_sq_dist(xt, y), naive_sq_dist(xt, y)) <= 1e-13);
    Tensor xn = xt.contiguous();
    xn.data<double>()[5] = std::nan("");  // row 1
    const Tensor k = gs::kernels::rbf_kernel(xn, y, 1.0);
    CHECK(std::isnan(k.at<double>({1, 0})));
    CHECK(std::isnan(k.at<double>({1, 2})));
    CHECK(!std::isnan(k.at<double>({0, 0})));
    CHECK_THROWS_WITH_AS(gs::kernels::rbf_kernel(y, Tensor::zeros({3, 5}, gs::DType::f64), 1.0),
                         Contains("x (N, D) and y (M, D) with one D"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::rbf_kernel(y, y.to(gs::DType::f32), 1.0), Contains("rbf_kernel"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::rbf_kernel(y, y, -0.5), Contains("gamma must be finite and >= 0"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::pairwise_sq_dist(Tensor::zeros({3}, gs::DType::f64), y), Contains("(N, D)"),
                         gs::Error);
    CHECK(gs::kernels::rbf_kernel(Tensor::zeros({0, 4}, gs::DType::f64), y, 1.0).shape() == gs::Shape{0, 3});
}
