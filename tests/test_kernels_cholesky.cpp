// kernels::cholesky, triangular_solve and cholesky_solve against a naive unblocked reference in
// long double and by residuals, on odd sizes that cross the recursion's leaf and split points;
// the ridge, the ignored upper triangle, non-SPD and shape errors, and thread-count independence.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/cholesky.h"
#include "tensor/error.h"
#include "test_util.h"

namespace {

using gs::Tensor;
using i64 = std::int64_t;
using LD = long double;

// A = B B^T / n + I with B (n, n) standard normal, built in double and rounded to T once. Its
// eigenvalues lie in about [1, 5] (Marchenko-Pastur), so cond(A) <= ~5 and the errors below are
// governed by the working precision, not by conditioning.
template <class T>
Tensor random_spd(i64 n, std::uint64_t seed) {
    const auto b = gs::test::randn<double>({n, n}, seed).to_vector<double>();
    std::vector<T> a(static_cast<std::size_t>(n * n));
    for (i64 i = 0; i < n; ++i)
        for (i64 j = 0; j < n; ++j) {
            double s = 0;
            for (i64 k = 0; k < n; ++k) s += b[std::size_t(i * n + k)] * b[std::size_t(j * n + k)];
            a[std::size_t(i * n + j)] = T(s / double(n) + (i == j ? 1.0 : 0.0));
        }
    return Tensor::from_vector(a, {n, n});
}

// The textbook unblocked Cholesky in long double, reading the lower triangle only.
std::vector<LD> naive_cholesky(const Tensor& a) {
    const i64 n = a.size(0);
    const auto av = a.to_vector<double>();
    std::vector<LD> l(std::size_t(n * n), 0.0L);
    for (i64 j = 0; j < n; ++j) {
        LD d = av[std::size_t(j * n + j)];
        for (i64 p = 0; p < j; ++p) d -= l[std::size_t(j * n + p)] * l[std::size_t(j * n + p)];
        REQUIRE(d > 0);
        l[std::size_t(j * n + j)] = std::sqrt(d);
        for (i64 i = j + 1; i < n; ++i) {
            LD s = av[std::size_t(i * n + j)];
            for (i64 p = 0; p < j; ++p) s -= l[std::size_t(i * n + p)] * l[std::size_t(j * n + p)];
            l[std::size_t(i * n + j)] = s / l[std::size_t(j * n + j)];
        }
    }
    return l;
}

// Naive substitution with a lower triangular l (n, n): L x = b or L^T x = b, b (n, m), long double.
std::vector<LD> naive_solve(const std::vector<LD>& l, i64 n, std::vector<LD> b, i64 m, bool transpose) {
    for (i64 t = 0; t < n; ++t) {
        const i64 i = transpose ? n - 1 - t : t;
        for (i64 c = 0; c < m; ++c) {
            LD s = b[std::size_t(i * m + c)];
            if (!transpose)
                for (i64 p = 0; p < i; ++p) s -= l[std::size_t(i * n + p)] * b[std::size_t(p * m + c)];
            else
                for (i64 p = i + 1; p < n; ++p) s -= l[std::size_t(p * n + i)] * b[std::size_t(p * m + c)];
            b[std::size_t(i * m + c)] = s / l[std::size_t(i * n + i)];
        }
    }
    return b;
}

double max_abs(const std::vector<double>& v) {
    double m = 0;
    for (double x : v) m = std::max(m, std::abs(x));
    return m;
}

// Relative tolerance for a factorization or solve of size n with cond(A) <= ~5: backward error
// grows like n * eps in the worst case; a well-conditioned A keeps the forward error there too.
template <class T>
double tol(i64 n) {
    return 4.0 * double(std::numeric_limits<T>::epsilon()) * double(n + 8);
}

}  // namespace

TEST_CASE_TEMPLATE("cholesky matches the naive reference", T, float, double) {
    for (i64 n : {1, 7, 33, 65, 300}) {
        CAPTURE(n);
        const Tensor a = random_spd<T>(n, 11 + std::uint64_t(n));
        const Tensor l = gs::kernels::cholesky(a);
        REQUIRE(l.shape() == gs::Shape{n, n});
        const auto got = l.to_vector<double>();
        const auto want = naive_cholesky(a);
        double err = 0, scale = 0;
        for (std::size_t k = 0; k < want.size(); ++k) {
            err = std::max(err, double(std::abs(LD(got[k]) - want[k])));
            scale = std::max(scale, double(std::abs(want[k])));
        }
        // f32 gets the same n*eps rule with float's eps (2^-23 vs 2^-52): single precision
        // rounding of the long sums in the trailing updates, not an algorithmic difference.
        CHECK(err <= tol<T>(n) * scale);
        // The strict upper triangle is exactly zero, the diagonal positive.
        for (i64 i = 0; i < n; ++i) {
            CHECK(got[std::size_t(i * n + i)] > 0);
            for (i64 j = i + 1; j < n; ++j) REQUIRE(got[std::size_t(i * n + j)] == 0.0);
        }
    }
}

TEST_CASE_TEMPLATE("cholesky_solve has a small residual", T, float, double) {
    for (i64 n : {1, 7, 65, 300}) {
        CAPTURE(n);
        const i64 m = 3;
        const Tensor a = random_spd<T>(n, 5 + std::uint64_t(n));
        const Tensor b = gs::test::randn<T>({n, m}, 99);
        const Tensor x = gs::kernels::cholesky_solve(a, b);
        REQUIRE(x.shape() == b.shape());
        // ||A X - B||_max relative to ||A||_max * ||X||_max * n (the residual's natural scale).
        const auto av = a.to_vector<double>(), xv = x.to_vector<double>(), bv = b.to_vector<double>();
        double res = 0;
        for (i64 i = 0; i < n; ++i)
            for (i64 c = 0; c < m; ++c) {
                LD s = -LD(bv[std::size_t(i * m + c)]);
                for (i64 k = 0; k < n; ++k) s += LD(av[std::size_t(i * n + k)]) * xv[std::size_t(k * m + c)];
                res = std::max(res, double(std::abs(s)));
            }
        CHECK(res <= tol<T>(n) * max_abs(av) * max_abs(xv) * double(n));
        // A vector right-hand side gives the first column of the matrix solve, exactly (same code
        // path, same order of operations per column).
        const Tensor x0 = gs::kernels::cholesky_solve(a, b.select(1, 0).contiguous());
        REQUIRE(x0.shape() == gs::Shape{n});
        CHECK(gs::test::max_abs_diff(x0, x.select(1, 0)) == 0.0);
    }
}

TEST_CASE_TEMPLATE("triangular_solve matches naive substitution", T, float, double) {
    for (i64 n : {1, 7, 65, 300}) {
        for (bool transpose : {false, true}) {
            CAPTURE(n);
            CAPTURE(transpose);
            const i64 m = 5;
            const Tensor l = gs::kernels::cholesky(random_spd<T>(n, 3 + std::uint64_t(n)));
            const Tensor b = gs::test::randn<T>({n, m}, 7);
            const Tensor x = gs::kernels::triangular_solve(l, b, transpose);
            std::vector<LD> lv, bv;
            for (double v : l.to_vector<double>()) lv.push_back(v);
            for (double v : b.to_vector<double>()) bv.push_back(v);
            const auto want = naive_solve(lv, n, bv, m, transpose);
            const auto got = x.to_vector<double>();
            double err = 0, scale = 0;
            for (std::size_t k = 0; k < want.size(); ++k) {
                err = std::max(err, double(std::abs(LD(got[k]) - want[k])));
                scale = std::max(scale, double(std::abs(want[k])));
            }
            // L has cond <= ~sqrt(5), so the same n*eps rule holds for the forward error.
            CHECK(err <= tol<T>(n) * scale);
        }
    }
}

TEST_CASE("cholesky adds the ridge and reads only the lower triangle") {
    const i64 n = 65;
    const Tensor a = random_spd<double>(n, 1);
    const double lambda = 0.75;
    Tensor shifted = a.clone();
    Tensor poisoned = a.clone();
    double* s = shifted.data<double>();
    double* p = poisoned.data<double>();
    for (i64 i = 0; i < n; ++i) {
        s[i * n + i] += lambda;
        for (i64 j = i + 1; j < n; ++j) p[i * n + j] = std::nan("");  // upper triangle: never read
    }
    const Tensor want = gs::kernels::cholesky(shifted);
    CHECK(gs::test::max_abs_diff(gs::kernels::cholesky(a, lambda), want) == 0.0);
    CHECK(gs::test::max_abs_diff(gs::kernels::cholesky(poisoned, lambda), want) == 0.0);
    // The in-place variant writes the same factor over its argument.
    gs::kernels::cholesky_inplace(poisoned, lambda);
    CHECK(gs::test::max_abs_diff(poisoned, want) == 0.0);
    // The regularized solve solves (A + lambda I) x = b.
    const Tensor b = gs::test::randn<double>({n}, 4);
    CHECK(gs::test::max_abs_diff(gs::kernels::cholesky_solve(a, b, lambda), gs::kernels::cholesky_solve(shifted, b)) ==
          0.0);
}

TEST_CASE("cholesky rejects matrices that are not positive definite") {
    using doctest::Contains;
    // diag(1, 2, -1, 4): pivot 2 is -1.
    const Tensor d = Tensor::from_vector<double>({1, 0, 0, 0, 0, 2, 0, 0, 0, 0, -1, 0, 0, 0, 0, 4}, {4, 4});
    CHECK_THROWS_WITH_AS(gs::kernels::cholesky(d), Contains("not positive definite: pivot 2 is -1"), gs::Error);
    // A positive semidefinite rank-1 matrix fails at pivot 1 (pivot 0 is fine), in f32 too.
    const Tensor r1 = Tensor::from_vector<float>({1, 2, 2, 4}, {2, 2});
    CHECK_THROWS_WITH_AS(gs::kernels::cholesky(r1), Contains("pivot 1 is 0"), gs::Error);
    // A large indefinite matrix (A - 10 I has eigenvalues below 0) fails past the first leaf.
    const Tensor big = random_spd<double>(300, 2);
    CHECK_NOTHROW(gs::kernels::cholesky(big));
    Tensor indefinite = big.clone();
    for (i64 i = 0; i < 300; ++i) indefinite.data<double>()[i * 300 + i] -= 10.0;
    CHECK_THROWS_WITH_AS(gs::kernels::cholesky(indefinite), Contains("not positive definite: pivot"), gs::Error);
    // NaN on the diagonal is rejected, not factored into NaNs.
    Tensor nan = big.clone();
    nan.data<double>()[150 * 300 + 150] = std::nan("");
    CHECK_THROWS_WITH_AS(gs::kernels::cholesky(nan), Contains("pivot 150 is nan"), gs::Error);
}

TEST_CASE("cholesky and the solves reject bad shapes and dtypes") {
    using doctest::Contains;
    const Tensor a = random_spd<double>(4, 1);
    CHECK_THROWS_WITH_AS(gs::kernels::cholesky(Tensor::zeros({3, 4}, gs::DType::f64)), Contains("square (N, N)"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::cholesky(Tensor::zeros({4}, gs::DType::f64)), Contains("square (N, N)"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::cholesky(Tensor::zeros({2, 2}, gs::DType::i64)), Contains("f32 or f64"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::cholesky(a, -1.0), Contains("lambda must be finite and >= 0"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::cholesky_solve(a, Tensor::zeros({5, 2}, gs::DType::f64)),
                         Contains("right-hand side must be (N) or (N, M) with N = 4"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::cholesky_solve(a, Tensor::zeros({4}, gs::DType::f32)), Contains("cholesky_solve"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::triangular_solve(a, Tensor::zeros({4, 1, 1}, gs::DType::f64), false),
                         Contains("right-hand side"), gs::Error);
    Tensor strided = Tensor::zeros({4, 8}, gs::DType::f64).slice(1, 0, 8, 2);
    CHECK_THROWS_WITH_AS(gs::kernels::cholesky_inplace(strided), Contains("cholesky_inplace"), gs::Error);
    // Empty systems are fine.
    CHECK(gs::kernels::cholesky(Tensor::zeros({0, 0}, gs::DType::f64)).shape() == gs::Shape{0, 0});
    CHECK(gs::kernels::cholesky_solve(Tensor::zeros({0, 0}, gs::DType::f64), Tensor::zeros({0, 3}, gs::DType::f64))
              .shape() == gs::Shape{0, 3});
}

TEST_CASE("cholesky and the solves do not depend on the thread count") {
    // n = 600 and 300 right-hand sides: large enough that the leaf loops (not only the GEMMs)
    // take their parallel branch (>= 2^18 multiply-adds per leaf call).
    const i64 n = 600;
    const Tensor a = random_spd<double>(n, 8);
    const Tensor b = gs::test::randn<double>({n, 300}, 9);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const Tensor l1 = gs::kernels::cholesky(a), x1 = gs::kernels::cholesky_solve(a, b);
    omp_set_num_threads(2);
    const Tensor l2 = gs::kernels::cholesky(a), x2 = gs::kernels::cholesky_solve(a, b);
    omp_set_num_threads(saved);
    CHECK(gs::test::max_abs_diff(l1, l2) == 0.0);
    CHECK(gs::test::max_abs_diff(x1, x2) == 0.0);
}
