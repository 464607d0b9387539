// Batch-norm kernels against naive double-precision loops, plus a central-difference check of the
// training backward (the formula in batch_norm.h is the thing under test, so the reference for
// the gradient must not restate it).
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <vector>

#include "kernels/batch_norm.h"
#include "tensor/random.h"
#include "test_util.h"

using gs::Shape;
using gs::Tensor;
namespace k = gs::kernels;
using gs::test::max_abs_diff;
using gs::test::randn;

namespace {

// x as (N, C, S).
struct Layout {
    std::int64_t N, C, S;
    explicit Layout(const Shape& s) : N(s[0]), C(s[1]), S(1) {
        for (std::size_t k = 2; k < s.size(); ++k) S *= s[k];
    }
    std::int64_t idx(std::int64_t n, std::int64_t c, std::int64_t s) const { return (n * C + c) * S + s; }
};

struct Ref {
    std::vector<double> y, mean, invstd, var;
};

// Naive training forward in double.
Ref ref_train(const Shape& shape, const std::vector<double>& x, const std::vector<double>* gamma,
              const std::vector<double>* beta, double eps) {
    const Layout L(shape);
    const double M = double(L.N * L.S);
    Ref r;
    r.y.resize(x.size());
    for (std::int64_t c = 0; c < L.C; ++c) {
        double s = 0;
        for (std::int64_t n = 0; n < L.N; ++n)
            for (std::int64_t i = 0; i < L.S; ++i) s += x[L.idx(n, c, i)];
        const double mu = s / M;
        double q = 0;
        for (std::int64_t n = 0; n < L.N; ++n)
            for (std::int64_t i = 0; i < L.S; ++i) q += (x[L.idx(n, c, i)] - mu) * (x[L.idx(n, c, i)] - mu);
        const double inv = 1.0 / std::sqrt(q / M + eps);
        r.mean.push_back(mu);
        r.invstd.push_back(inv);
        r.var.push_back(q / (M - 1));
        const double g = gamma ? (*gamma)[c] : 1.0, b = beta ? (*beta)[c] : 0.0;
        for (std::int64_t n = 0; n < L.N; ++n)
            for (std::int64_t i = 0; i < L.S; ++i) r.y[L.idx(n, c, i)] = g * (x[L.idx(n, c, i)] - mu) * inv + b;
    }
    return r;
}

struct Variant {
    bool gamma, beta;
};
const Variant kVariants[] = {{true, true}, {false, true}, {false, false}, {true, false}};

const Shape kShapes[] = {{2, 3}, {7, 3}, {5, 33}, {1, 3, 5, 5}, {2, 3, 5, 5}, {7, 33, 5, 5}};

}  // namespace

TEST_CASE_TEMPLATE("batch_norm_forward_train matches a naive reference", T, float, double) {
    // f32: normalized values are O(1); rounding of x - mean and of the products stays well below 1e-4.
    const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-11;
    const double eps = 1e-5;
    for (const Shape& shape : kShapes)
        for (const Variant v : kVariants) {
            CAPTURE(gs::shape_str(shape));
            CAPTURE(v.gamma);
            CAPTURE(v.beta);
            const Tensor x = randn<T>(shape, 1, 0.5, 2.0);
            const std::int64_t C = shape[1];
            const Tensor gamma = v.gamma ? randn<T>({C}, 2, 1.0, 0.5) : Tensor();
            const Tensor beta = v.beta ? randn<T>({C}, 3) : Tensor();
            const auto xv = x.to_vector<double>();
            std::vector<double> gv, bv;
            if (v.gamma) gv = gamma.to_vector<double>();
            if (v.beta) bv = beta.to_vector<double>();
            const Ref ref = ref_train(shape, xv, v.gamma ? &gv : nullptr, v.beta ? &bv : nullptr, eps);
            const k::BatchNormTrainResult r = k::batch_norm_forward_train(x, gamma, beta, eps);
            CHECK(r.y.shape() == shape);
            CHECK(r.mean.shape() == Shape{C});
            CHECK(max_abs_diff(r.y, ref.y) < tol);
            CHECK(max_abs_diff(r.mean, ref.mean) < tol);
            // invstd and var scale with 1/std and std^2 = 4; relative tolerance folded in.
            CHECK(max_abs_diff(r.invstd, ref.invstd) < tol);
            CHECK(max_abs_diff(r.var, ref.var) < 8 * tol);
        }
}

TEST_CASE_TEMPLATE("batch_norm_backward_train matches the textbook formula", T, float, double) {
    // f32: the sums are accumulated in double; the remaining error is float rounding of O(1) terms.
    const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-11;
    const double eps = 1e-5;
    for (const Shape& shape : kShapes)
        for (const Variant v : kVariants) {
            CAPTURE(gs::shape_str(shape));
            const Tensor x = randn<T>(shape, 4, -1.0, 1.5);
            const Tensor dy = randn<T>(shape, 5);
            const std::int64_t C = shape[1];
            const Tensor gamma = v.gamma ? randn<T>({C}, 6, 1.0, 0.5) : Tensor();
            const k::BatchNormTrainResult f = k::batch_norm_forward_train(x, gamma, Tensor(), eps);
            const k::BatchNormGrads g = k::batch_norm_backward_train(dy, x, f.mean, f.invstd, gamma, true, true, true);
            // Reference: dx = gamma*invstd/M * (M*dy - Σdy - xhat*Σ(dy*xhat)), in double.
            const Layout L(shape);
            const double M = double(L.N * L.S);
            const auto xv = x.to_vector<double>(), dyv = dy.to_vector<double>();
            const auto mu = f.mean.to_vector<double>(), inv = f.invstd.to_vector<double>();
            std::vector<double> dx(xv.size()), dgamma(C), dbeta(C);
            for (std::int64_t c = 0; c < C; ++c) {
                double sdy = 0, sdyx = 0;
                for (std::int64_t n = 0; n < L.N; ++n)
                    for (std::int64_t i = 0; i < L.S; ++i) {
                        const auto j = L.idx(n, c, i);
                        sdy += dyv[j];
                        sdyx += dyv[j] * (xv[j] - mu[c]) * inv[c];
                    }
                dgamma[c] = sdyx;
                dbeta[c] = sdy;
                const double gm = v.gamma ? gamma.at<double>({c}) : 1.0;
                for (std::int64_t n = 0; n < L.N; ++n)
                    for (std::int64_t i = 0; i < L.S; ++i) {
                        const auto j = L.idx(n, c, i);
                        const double xhat = (xv[j] - mu[c]) * inv[c];
                        dx[j] = gm * inv[c] / M * (M * dyv[j] - sdy - xhat * sdyx);
                    }
            }
            // dgamma/dbeta are sums of up to M = 875 O(1) terms: scale the tolerance.
            CHECK(max_abs_diff(g.dx, dx) < tol);
            CHECK(max_abs_diff(g.dgamma, dgamma) < 100 * tol);
            CHECK(max_abs_diff(g.dbeta, dbeta) < 100 * tol);
        }
}

TEST_CASE("batch_norm_backward_train agrees with central differences (f64)") {
    // Loss L = Σ w*y with random w: a plain sum of BN outputs is constant, so its gradient is zero
    // and would hide a broken dx.
    const double eps = 1e-3, h = 1e-6;
    for (const Shape& shape : {Shape{4, 3}, Shape{2, 3, 2, 3}})
        for (const Variant v : kVariants) {
            CAPTURE(gs::shape_str(shape));
            CAPTURE(v.gamma);
            CAPTURE(v.beta);
            const std::int64_t C = shape[1];
            Tensor x = randn<double>(shape, 7);
            Tensor gamma = v.gamma ? randn<double>({C}, 8, 1.0, 0.5) : Tensor();
            Tensor beta = v.beta ? randn<double>({C}, 9) : Tensor();
            const Tensor w = randn<double>(shape, 10);
            const auto wv = w.to_vector<double>();
            auto loss = [&] {
                const auto y = k::batch_norm_forward_train(x, gamma, beta, eps).y.to_vector<double>();
                double s = 0;
                for (std::size_t i = 0; i < y.size(); ++i) s += wv[i] * y[i];
                return s;
            };
            const auto f = k::batch_norm_forward_train(x, gamma, beta, eps);
            const auto g = k::batch_norm_backward_train(w, x, f.mean, f.invstd, gamma, true, true, true);
            auto check = [&](Tensor& p, const Tensor& analytic) {
                double* d = p.data<double>();
                for (std::int64_t i = 0; i < p.numel(); ++i) {
                    const double old = d[i];
                    d[i] = old + h;
                    const double lp = loss();
                    d[i] = old - h;
                    const double lm = loss();
                    d[i] = old;
                    const double num = (lp - lm) / (2 * h), an = analytic.to_vector<double>()[std::size_t(i)];
                    CHECK(std::abs(num - an) <= 1e-5 + 1e-3 * std::abs(num));
                }
            };
            check(x, g.dx);
            if (v.gamma) check(gamma, g.dgamma);
            if (v.beta) check(beta, g.dbeta);
        }
}

TEST_CASE_TEMPLATE("batch_norm eval forward and backward use the running statistics", T, float, double) {
    const double tol = std::is_same_v<T, float> ? 1e-4 : 1e-11;  // as in training mode
    const double eps = 1e-5;
    for (const Shape& shape : kShapes)
        for (const Variant v : kVariants) {
            const std::int64_t C = shape[1];
            const Tensor x = randn<T>(shape, 11), dy = randn<T>(shape, 12);
            const Tensor rm = randn<T>({C}, 13);
            gs::Generator gen(14);
            const Tensor rv = gs::uniform({C}, gen, 0.5, 2.0, gs::dtype_of<T>());
            const Tensor gamma = v.gamma ? randn<T>({C}, 15) : Tensor();
            const Tensor beta = v.beta ? randn<T>({C}, 16) : Tensor();
            const Tensor y = k::batch_norm_forward_eval(x, rm, rv, gamma, beta, eps);
            const auto g = k::batch_norm_backward_eval(dy, x, rm, rv, gamma, eps, true, true, true);
            const Layout L(shape);
            const auto xv = x.to_vector<double>(), dyv = dy.to_vector<double>();
            std::vector<double> yr(xv.size()), dxr(xv.size()), dgr(C, 0.0), dbr(C, 0.0);
            for (std::int64_t c = 0; c < C; ++c) {
                const double inv = 1.0 / std::sqrt(rv.at<double>({c}) + eps), mu = rm.at<double>({c});
                const double gm = v.gamma ? gamma.at<double>({c}) : 1.0, b = v.beta ? beta.at<double>({c}) : 0.0;
                for (std::int64_t n = 0; n < L.N; ++n)
                    for (std::int64_t i = 0; i < L.S; ++i) {
                        const auto j = L.idx(n, c, i);
                        yr[j] = gm * (xv[j] - mu) * inv + b;
                        dxr[j] = dyv[j] * gm * inv;
                        dgr[c] += dyv[j] * (xv[j] - mu) * inv;
                        dbr[c] += dyv[j];
                    }
            }
            CHECK(max_abs_diff(y, yr) < tol);
            CHECK(max_abs_diff(g.dx, dxr) < tol);
            CHECK(max_abs_diff(g.dgamma, dgr) < 100 * tol);  // sums of up to 875 terms
            CHECK(max_abs_diff(g.dbeta, dbr) < 100 * tol);
        }
}

TEST_CASE("batch_norm_backward computes only the requested gradients") {
    const Tensor x = randn<double>({3, 4}, 1), dy = randn<double>({3, 4}, 2);
    const auto f = k::batch_norm_forward_train(x, Tensor(), Tensor(), 1e-5);
    const auto g = k::batch_norm_backward_train(dy, x, f.mean, f.invstd, Tensor(), false, true, false);
    CHECK_FALSE(g.dx.defined());
    CHECK(g.dgamma.defined());
    CHECK_FALSE(g.dbeta.defined());
    // dbeta alone needs dy only: x and the statistics may be absent.
    const auto b = k::batch_norm_backward_train(dy, Tensor(), Tensor(), Tensor(), Tensor(), false, false, true);
    const auto full = k::batch_norm_backward_train(dy, x, f.mean, f.invstd, Tensor(), false, false, true);
    CHECK(b.dbeta.to_vector<double>() == full.dbeta.to_vector<double>());
    CHECK_THROWS_WITH_AS(k::batch_norm_backward_train(dy, Tensor(), Tensor(), Tensor(), Tensor(), true, false, false),
                         doctest::Contains("x is needed for dx and dgamma"), gs::Error);
    CHECK_THROWS_WITH_AS(k::batch_norm_backward_eval(dy, Tensor(), Tensor::zeros({4}, gs::DType::f64),
                                                     Tensor::ones({4}, gs::DType::f64), Tensor(), 1e-5, false, true,
                                                     false),
                         doctest::Contains("x is needed for dgamma"), gs::Error);
}

TEST_CASE("batch_norm results do not depend on the thread count") {
    // Large enough to take the parallel paths (> kParallelGrain elements, several blocks per channel).
    const Tensor x = randn<float>({64, 3, 33, 33}, 21, 3.0, 2.0), dy = randn<float>({64, 3, 33, 33}, 22);
    const Tensor gamma = randn<float>({3}, 23);
    auto run = [&](int threads) {
        omp_set_num_threads(threads);
        const auto f = k::batch_norm_forward_train(x, gamma, Tensor(), 1e-5);
        const auto g = k::batch_norm_backward_train(dy, x, f.mean, f.invstd, gamma, true, true, true);
        return std::vector<std::vector<float>>{f.y.to_vector<float>(), f.var.to_vector<float>(),
                                               g.dx.to_vector<float>(), g.dgamma.to_vector<float>()};
    };
    const int saved = omp_get_max_threads();
    const auto one = run(1), two = run(2);
    omp_set_num_threads(saved);
    CHECK(one == two);  // bitwise
}

TEST_CASE("batch_norm validates its inputs") {
    const Tensor gamma = Tensor::ones({3}, gs::DType::f64);
    CHECK_THROWS_WITH_AS(k::batch_norm_forward_train(Tensor::ones({1, 3}, gs::DType::f64), gamma, Tensor(), 1e-5),
                         doctest::Contains("at least 2 values per channel"), gs::Error);
    CHECK_THROWS_WITH_AS(k::batch_norm_forward_train(Tensor::ones({1, 3, 1, 1}), Tensor(), Tensor(), 1e-5),
                         doctest::Contains("N*H*W >= 2"), gs::Error);
    CHECK_THROWS_WITH_AS(k::batch_norm_forward_train(Tensor::ones({4, 3}, gs::DType::f64), gamma, Tensor(), -1.0),
                         doctest::Contains("eps"), gs::Error);
    CHECK_THROWS_WITH_AS(
        k::batch_norm_forward_train(Tensor::ones({4, 5}, gs::DType::f64), gamma, Tensor(), 1e-5),
        doctest::Contains("gamma must have shape [5]"), gs::Error);
    CHECK_THROWS_WITH_AS(k::batch_norm_forward_train(Tensor::ones({4, 3}), gamma, Tensor(), 1e-5),
                         doctest::Contains("dtype"), gs::Error);
    CHECK_THROWS_WITH_AS(k::batch_norm_forward_train(Tensor::ones({4}), Tensor(), Tensor(), 1e-5),
                         doctest::Contains("(N, C)"), gs::Error);
    CHECK_THROWS_WITH_AS(k::batch_norm_forward_train(Tensor::ones({4, 3}, gs::DType::i64), Tensor(), Tensor(), 1e-5),
                         doctest::Contains("floating"), gs::Error);
    CHECK_THROWS_WITH_AS(k::batch_norm_forward_eval(Tensor::ones({1, 3}), Tensor::zeros({3}), Tensor(), Tensor(),
                                                    Tensor(), 1e-5),
                         doctest::Contains("running_var is undefined"), gs::Error);
    // Eval mode needs no batch statistics: a single example is fine.
    CHECK(k::batch_norm_forward_eval(Tensor::ones({1, 3}), Tensor::zeros({3}), Tensor::ones({3}), Tensor(), Tensor(),
                                     0.0)
              .at<double>({0, 1}) == 1.0);
}

TEST_CASE("batch_norm accepts non-contiguous inputs and empty channels") {
    const Tensor base = randn<double>({3, 6}, 31);
    const Tensor x = base.t();  // (6, 3), strided
    const auto a = k::batch_norm_forward_train(x, Tensor(), Tensor(), 1e-5);
    const auto b = k::batch_norm_forward_train(x.contiguous(), Tensor(), Tensor(), 1e-5);
    CHECK(a.y.to_vector<double>() == b.y.to_vector<double>());
    const auto e = k::batch_norm_forward_train(Tensor::zeros({4, 0}), Tensor(), Tensor(), 1e-5);
    CHECK(e.y.numel() == 0);
    CHECK(e.mean.shape() == Shape{0});
}

TEST_CASE_TEMPLATE("batch_norm_forward_train updates running statistics in place", T, float, double) {
    // running = (1 - m) running + m batch, with the unbiased batch variance, and var left undefined.
    const Tensor x = randn<T>({5, 3, 2, 2}, 41, 0.5, 2.0);
    const auto plain = k::batch_norm_forward_train(x, Tensor(), Tensor(), 1e-5);
    const Tensor rm = randn<T>({3}, 42), rv = randn<T>({3}, 43, 2.0, 0.3);
    const std::vector<double> rm0 = rm.to_vector<double>(), rv0 = rv.to_vector<double>();
    const k::BatchNormRunning running{rm, rv, 0.25};
    const auto r = k::batch_norm_forward_train(x, Tensor(), Tensor(), 1e-5, &running);
    CHECK_FALSE(r.var.defined());
    CHECK(r.y.to_vector<double>() == plain.y.to_vector<double>());
    const std::vector<double> bm = plain.mean.to_vector<double>(), bv = plain.var.to_vector<double>();
    const double tol = sizeof(T) == 4 ? 1e-6 : 1e-15;  // one blend, rounded in T
    for (std::size_t c = 0; c < 3; ++c) {
        CHECK(std::abs(rm.to_vector<double>()[c] - (0.75 * rm0[c] + 0.25 * bm[c])) <= tol * (1 + std::abs(rm0[c])));
        CHECK(std::abs(rv.to_vector<double>()[c] - (0.75 * rv0[c] + 0.25 * bv[c])) <= tol * (1 + std::abs(rv0[c])));
    }
    // Bad running statistics are refused before anything is written.
    const k::BatchNormRunning bad_m{rm, rv, 1.5};
    CHECK_THROWS_WITH_AS(k::batch_norm_forward_train(x, Tensor(), Tensor(), 1e-5, &bad_m),
                         doctest::Contains("momentum must be in [0, 1]"), gs::Error);
    const k::BatchNormRunning shared{rm, rm, 0.1};
    CHECK_THROWS_WITH_AS(k::batch_norm_forward_train(x, Tensor(), Tensor(), 1e-5, &shared),
                         doctest::Contains("must not share storage"), gs::Error);
    const k::BatchNormRunning strided{Tensor::zeros({6}, gs::dtype_of<T>()).slice(0, 0, 6, 2), rv, 0.1};
    CHECK_THROWS_WITH_AS(k::batch_norm_forward_train(x, Tensor(), Tensor(), 1e-5, &strided),
                         doctest::Contains("contiguous"), gs::Error);
    const k::BatchNormRunning wrong{Tensor::zeros({4}, gs::dtype_of<T>()), rv, 0.1};
    CHECK_THROWS_WITH_AS(k::batch_norm_forward_train(x, Tensor(), Tensor(), 1e-5, &wrong),
                         doctest::Contains("running mean must have shape [3]"), gs::Error);
}
