// The fused local response normalization against naive f64 loops (forward, and the backward as
// the full Jacobian applied to dy), for odd and even windows, windows wider than the channels, the
// square-root and general powers, 3-d and 4-d inputs, both dtypes, the parallel path; a gradcheck
// of the autograd op; and the parameter and shape errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "autograd/local_response_norm.h"
#include "kernels/local_response_norm.h"
#include "tensor/random.h"
#include "test_util.h"

namespace {

using gs::Shape;
using gs::Tensor;
using gs::kernels::LrnParams;
using i64 = std::int64_t;

struct Reference {
    std::vector<double> y, dx;
};

// y[c] = x[c] s[c]^-beta; dx[j] = sum_c dy[c] dy[c]/dx[j], the Jacobian written out entry by
// entry (not the kernels' reverse-window form).
Reference reference(const Tensor& x_, const Tensor& dy_, const LrnParams& p) {
    const std::vector<double> x = x_.to_vector<double>(), dy = dy_.to_vector<double>();
    const i64 N = x_.size(0), C = x_.size(1), L = x_.numel() / (N * C);
    auto at = [&](i64 n, i64 c, i64 l) { return (n * C + c) * L + l; };
    auto in_window = [&](i64 j, i64 c) { return j >= c - p.size / 2 && j <= c - p.size / 2 + p.size - 1; };
    Reference r{std::vector<double>(x.size()), std::vector<double>(x.size(), 0.0)};
    std::vector<double> s(x.size());
    for (i64 n = 0; n < N; ++n)
        for (i64 c = 0; c < C; ++c)
            for (i64 l = 0; l < L; ++l) {
                double sum = 0;
                for (i64 j = 0; j < C; ++j)
                    if (in_window(j, c)) sum += x[std::size_t(at(n, j, l))] * x[std::size_t(at(n, j, l))];
                const std::size_t e = std::size_t(at(n, c, l));
                s[e] = p.k + p.alpha / double(p.size) * sum;
                r.y[e] = x[e] * std::pow(s[e], -p.beta);
            }
    for (i64 n = 0; n < N; ++n)
        for (i64 l = 0; l < L; ++l)
            for (i64 c = 0; c < C; ++c)
                for (i64 j = 0; j < C; ++j) {
                    const std::size_t ec = std::size_t(at(n, c, l)), ej = std::size_t(at(n, j, l));
                    double jac = c == j ? std::pow(s[ec], -p.beta) : 0.0;
                    if (in_window(j, c))
                        jac += x[ec] * -p.beta * std::pow(s[ec], -p.beta - 1) * p.alpha / double(p.size) * 2 * x[ej];
                    r.dx[ej] += dy[ec] * jac;
                }
    return r;
}

}  // namespace

TEST_CASE_TEMPLATE("local_response_norm forward and backward match the naive Jacobian", T, float, double) {
    const gs::DType dt = gs::test::dt<T>();
    struct Case {
        Shape x;
        LrnParams p;
    };
    const std::vector<Case> cases = {
        {{2, 7, 3, 4}, {5, 0.5, 0.75, 2.0}},   // odd window, beta 0.75 (the square-root path)
        {{2, 6, 5}, {4, 0.7, 0.75, 1.0}},       // even window, 3-d input
        {{1, 3, 2, 2}, {9, 0.9, 0.5, 1.5}},     // window wider than the channels, beta 0.5
        {{3, 5, 1, 3}, {1, 0.4, 0.6, 1.0}},     // size 1, a general beta (std::pow)
        {{2, 4, 2, 3}, {2, 0.8, 1.3, 0.5}},     // another even window and general beta
        {{4, 16, 24, 24}, {9, 0.3, 0.75, 1.0}}  // numel 36864: the OpenMP path
    };
    gs::Generator gen(41);
    for (const Case& c : cases) {
        INFO("x ", gs::shape_str(c.x), " size ", c.p.size, " beta ", c.p.beta);
        const Tensor x = gs::normal(c.x, gen, 0.0, 1.5, dt);
        const Tensor dy = gs::normal(c.x, gen, 0.0, 1.0, dt);
        const gs::kernels::LrnResult r = gs::kernels::local_response_norm_forward(x, c.p);
        const Tensor dx = gs::kernels::local_response_norm_backward(dy, x, r.scale, c.p);
        const Reference want = reference(x, dy, c.p);
        // A handful of roundings per element (a window sum of up to `size` squares, a power): a
        // few ulps of T, relative to the largest magnitude for the backward's cancelling sum.
        const double tol = std::is_same_v<T, float> ? 2e-6 : 1e-14;
        gs::test::check_close(r.y, want.y, tol, tol, "y");
        double scale = 0;
        for (double v : want.dx) scale = std::max(scale, std::abs(v));
        gs::test::check_close(dx, want.dx, tol, tol * scale, "dx");
    }
}

TEST_CASE("gradcheck: local_response_norm") {
    for (const LrnParams& p : {LrnParams{5, 0.8, 0.75, 1.0}, LrnParams{4, 0.5, 0.6, 2.0}}) {
        INFO("size ", p.size, " beta ", p.beta);
        gs::test::check_grad("local_response_norm",
                             [p](const std::vector<gs::autograd::Variable>& in) {
                                 return gs::autograd::local_response_norm(in[0], p);
                             },
                             {gs::test::randn64({2, 6, 2, 3}, 17)});
    }
}

TEST_CASE("local_response_norm rejects bad parameters and shapes by name") {
    const Tensor x = gs::test::randn64({2, 3, 4}, 3);
    using gs::kernels::local_response_norm_forward;
    CHECK_THROWS_WITH_AS(local_response_norm_forward(x, {0, 1e-4, 0.75, 1.0}), doctest::Contains("size must be positive"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(local_response_norm_forward(x, {3, -1.0, 0.75, 1.0}), doctest::Contains("alpha >= 0 and k > 0"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(local_response_norm_forward(x, {3, 1e-4, 0.75, 0.0}), doctest::Contains("alpha >= 0 and k > 0"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(local_response_norm_forward(gs::test::randn64({2, 3}, 1), {}),
                         doctest::Contains("at least 3 dims"), gs::Error);
    const gs::kernels::LrnResult r = local_response_norm_forward(x, {});
    CHECK_THROWS_WITH_AS(gs::kernels::local_response_norm_backward(gs::test::randn64({2, 3, 5}, 2), x, r.scale, {}),
                         doctest::Contains("must have one shape"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::local_response_norm_backward(x.to(gs::DType::f32), x, r.scale, {}),
                         doctest::Contains("must have one dtype"), gs::Error);
}
