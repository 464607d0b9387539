// Softmax and log-softmax kernels against naive double-precision loops, along every dim.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/softmax.h"
#include "tensor/random.h"
#include "test_util.h"

using gs::Shape;
using gs::Tensor;
namespace k = gs::kernels;
using gs::test::max_abs_diff;
using gs::test::randn;

namespace {

// Calls f(indices of one row along dim) for every row of a contiguous tensor of `shape`.
template <class F>
void for_rows(const Shape& shape, std::int64_t dim, F&& f) {
    std::int64_t outer = 1, inner = 1;
    for (std::int64_t d = 0; d < dim; ++d) outer *= shape[d];
    for (std::size_t d = dim + 1; d < shape.size(); ++d) inner *= shape[d];
    const std::int64_t D = shape[dim];
    for (std::int64_t o = 0; o < outer; ++o)
        for (std::int64_t i = 0; i < inner; ++i) {
            std::vector<std::size_t> idx;
            for (std::int64_t j = 0; j < D; ++j) idx.push_back(std::size_t((o * D + j) * inner + i));
            f(idx);
        }
}

// softmax (log = false) or log_softmax in double, straightforwardly with the max subtracted.
std::vector<double> ref_softmax(const std::vector<double>& x, const Shape& shape, std::int64_t dim, bool log) {
    std::vector<double> y(x.size());
    for_rows(shape, dim, [&](const std::vector<std::size_t>& r) {
        double m = -INFINITY;
        for (auto i : r) m = std::max(m, x[i]);
        double s = 0;
        for (auto i : r) s += std::exp(x[i] - m);
        for (auto i : r) y[i] = log ? x[i] - m - std::log(s) : std::exp(x[i] - m) / s;
    });
    return y;
}

// dx_j = Σ_k dy_k * d y_k / d x_j from the full Jacobian, p the softmax of x.
std::vector<double> ref_backward(const std::vector<double>& x, const std::vector<double>& dy, const Shape& shape,
                                 std::int64_t dim, bool log) {
    const std::vector<double> p = ref_softmax(x, shape, dim, false);
    std::vector<double> dx(x.size());
    for_rows(shape, dim, [&](const std::vector<std::size_t>& r) {
        for (auto j : r) {
            // d y_k / d x_j: softmax p_k (δ_jk - p_j); log-softmax δ_jk - p_j.
            double s = 0;
            for (auto kk : r) {
                const double delta = j == kk ? 1.0 : 0.0;
                s += dy[kk] * (log ? delta - p[j] : p[kk] * (delta - p[j]));
            }
            dx[j] = s;
        }
    });
    return dx;
}

const Shape kShapes[] = {{1}, {7}, {33}, {1, 3}, {7, 33}, {5, 3, 7}, {2, 3, 5, 5}};

}  // namespace

TEST_CASE_TEMPLATE("softmax and log_softmax match a naive reference along every dim", T, float, double) {
    // f32: outputs are probabilities or O(10) log-probabilities; float rounding stays below 1e-5 / 1e-4.
    const double tol = std::is_same_v<T, float> ? 2e-5 : 1e-12;
    for (const Shape& shape : kShapes)
        for (std::int64_t dim = 0; dim < std::int64_t(shape.size()); ++dim) {
            CAPTURE(gs::shape_str(shape));
            CAPTURE(dim);
            const Tensor x = randn<T>(shape, 1, 0.0, 3.0);
            const Tensor dy = randn<T>(shape, 2);
            const auto xv = x.to_vector<double>(), dyv = dy.to_vector<double>();
            const Tensor y = k::softmax(x, dim);
            const Tensor ly = k::log_softmax(x, dim - std::int64_t(shape.size()));  // negative dim
            CHECK(max_abs_diff(y, ref_softmax(xv, shape, dim, false)) < tol);
            CHECK(max_abs_diff(ly, ref_softmax(xv, shape, dim, true)) < 10 * tol);
            CHECK(max_abs_diff(k::softmax_backward(y, dy, dim), ref_backward(xv, dyv, shape, dim, false)) < 10 * tol);
            CHECK(max_abs_diff(k::log_softmax_backward(ly, dy, dim), ref_backward(xv, dyv, shape, dim, true)) <
                  10 * tol);
        }
}

TEST_CASE("softmax is stable for large logits and propagates NaN") {
    const Tensor x = Tensor::from_vector<float>({1000.f, 1001.f, 999.f, -1000.f, 0.f, 1.f}, {2, 3});
    const auto y = k::softmax(x, 1).to_vector<float>();
    for (float v : y) CHECK(std::isfinite(v));
    CHECK(y[1] == doctest::Approx(std::exp(1.0) / (1 + std::exp(1.0) + std::exp(-1.0))));
    const auto ly = k::log_softmax(x, 1).to_vector<float>();
    CHECK(std::isfinite(ly[3]));  // no log(0) for the very unlikely class
    CHECK(ly[3] == doctest::Approx(-1001.0 - std::log1p(std::exp(-1.0))).epsilon(1e-6));

    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (int pos = 0; pos < 3; ++pos) {
        std::vector<float> v{0.5f, -1.f, 2.f, 1.f, 2.f, 3.f};
        v[std::size_t(pos)] = nan;
        const Tensor xn = Tensor::from_vector(v, {2, 3});
        for (bool log : {false, true}) {
            const auto out = (log ? k::log_softmax(xn, 1) : k::softmax(xn, 1)).to_vector<float>();
            for (int j = 0; j < 3; ++j) CHECK(std::isnan(out[std::size_t(j)]));  // the NaN row
            for (int j = 3; j < 6; ++j) CHECK_FALSE(std::isnan(out[std::size_t(j)]));  // the clean row
        }
    }
}

TEST_CASE("softmax handles empty and non-contiguous inputs and validates") {
    CHECK(k::softmax(Tensor::zeros({0, 3}), 1).numel() == 0);
    CHECK(k::log_softmax(Tensor::zeros({3, 0}), 1).numel() == 0);
    const Tensor base = randn<double>({4, 5}, 3);
    CHECK(k::softmax(base.t(), 0).to_vector<double>() == k::softmax(base.t().contiguous(), 0).to_vector<double>());
    CHECK_THROWS_WITH_AS(k::softmax(Tensor::zeros({2, 3}), 2), doctest::Contains("softmax"), gs::Error);
    CHECK_THROWS_WITH_AS(k::softmax(Tensor::zeros({2, 3}, gs::DType::i64), 1), doctest::Contains("floating"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(k::softmax_backward(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}), 1),
                         doctest::Contains("dy must match"), gs::Error);
    CHECK_THROWS_AS(k::softmax(Tensor::scalar(1.0), 0), gs::Error);
}
