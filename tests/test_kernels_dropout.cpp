// Dropout: inverted scaling, determinism given (seed, stream, offset) and across thread counts,
// the empirical keep rate, and the backward.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/dropout.h"
#include "tensor/random.h"

using gs::Shape;
using gs::Tensor;
namespace k = gs::kernels;

TEST_CASE_TEMPLATE("dropout scales kept elements by 1/(1-p) and zeroes the rest", T, float, double) {
    for (const Shape& shape : {Shape{1}, Shape{7}, Shape{33, 3}, Shape{2, 3, 5, 5}})
        for (double p : {0.1, 0.5, 0.9}) {
            CAPTURE(gs::shape_str(shape));
            CAPTURE(p);
            gs::Generator data(1);
            const Tensor x = gs::normal(shape, data, 0.0, 1.0, gs::dtype_of<T>());
            gs::Generator gen(42, 3);
            gen.offset = 17;
            gs::Generator same = gen;
            const auto r = k::dropout_forward(x, p, gen);
            CHECK(gen.offset == 17 + std::uint64_t(x.numel()));
            // The mask is the Bernoulli(1 - p) fill the generator would produce.
            const auto expect = gs::bernoulli(shape, same, 1.0 - p, gs::DType::u8).to_vector<std::uint8_t>();
            CHECK(r.mask.dtype() == gs::DType::u8);
            CHECK(r.mask.to_vector<std::uint8_t>() == expect);
            const auto xv = x.template to_vector<T>(), yv = r.y.template to_vector<T>();
            const T scale = T(1.0 / (1.0 - p));
            for (std::size_t i = 0; i < xv.size(); ++i) CHECK(yv[i] == (expect[i] ? xv[i] * scale : T(0)));
            const Tensor dy = gs::normal(shape, data, 0.0, 1.0, gs::dtype_of<T>());
            const auto dyv = dy.template to_vector<T>();
            const auto dxv = k::dropout_backward(dy, r.mask, p).template to_vector<T>();
            for (std::size_t i = 0; i < dyv.size(); ++i) CHECK(dxv[i] == (expect[i] ? dyv[i] * scale : T(0)));
        }
}

TEST_CASE("dropout masks depend on (seed / stream / offset) only / not on the thread count") {
    const Tensor x = Tensor::ones({300, 301});  // > the parallel thresholds
    auto mask = [&](int threads, gs::Generator g) {
        omp_set_num_threads(threads);
        return k::dropout_forward(x, 0.3, g).mask.to_vector<std::uint8_t>();
    };
    const int saved = omp_get_max_threads();
    const auto a = mask(1, gs::Generator(5)), b = mask(2, gs::Generator(5));
    omp_set_num_threads(saved);
    CHECK(a == b);
    CHECK(a != mask(2, gs::Generator(6)));      // another seed
    CHECK(a != mask(2, gs::Generator(5, 1)));   // another stream
    gs::Generator g(5);
    g.offset = 1;
    CHECK(a != mask(2, g));                     // another offset
    omp_set_num_threads(saved);
    // Consecutive calls advance the generator and draw fresh masks.
    gs::Generator h(5);
    const auto m1 = k::dropout_forward(x, 0.3, h).mask.to_vector<std::uint8_t>();
    const auto m2 = k::dropout_forward(x, 0.3, h).mask.to_vector<std::uint8_t>();
    CHECK(m1 == a);
    CHECK(m1 != m2);
}

TEST_CASE("dropout keeps a fraction 1 - p of the elements") {
    const std::int64_t n = 200000;
    const Tensor x = Tensor::ones({n}, gs::DType::f64);
    for (double p : {0.1, 0.5, 0.8}) {
        gs::Generator g(9);
        const auto r = k::dropout_forward(x, p, g);
        double kept = 0, sum = 0;
        for (auto m : r.mask.to_vector<std::uint8_t>()) kept += m;
        for (double v : r.y.to_vector<double>()) sum += v;
        // Binomial standard deviation of the keep rate is sqrt(p(1-p)/n) <= 0.0012: allow 5 sigma.
        CHECK(std::abs(kept / double(n) - (1 - p)) < 0.006);
        // Inverted scaling keeps the mean: E[y] = x = 1.
        CHECK(std::abs(sum / double(n) - 1.0) < 0.006 / (1 - p));
    }
}

TEST_CASE("dropout with p == 0 is the identity / other p are validated / NaN stays NaN") {
    gs::Generator g(1);
    const Tensor x = Tensor::from_vector<float>({1, 2, 3});
    const auto r = k::dropout_forward(x, 0.0, g);
    CHECK(r.y.to_vector<float>() == x.to_vector<float>());
    CHECK_FALSE(r.y.shares_storage(x));
    CHECK_FALSE(r.mask.defined());
    CHECK(g.offset == 0);
    CHECK(k::dropout_backward(x, Tensor(), 0.0).to_vector<float>() == x.to_vector<float>());
    CHECK_THROWS_WITH_AS(k::dropout_forward(x, 1.0, g), doctest::Contains("[0, 1)"), gs::Error);
    CHECK_THROWS_WITH_AS(k::dropout_forward(x, -0.1, g), doctest::Contains("[0, 1)"), gs::Error);
    CHECK_THROWS_WITH_AS(k::dropout_backward(x, Tensor::ones({2}, gs::DType::u8), 0.5), doctest::Contains("mask"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(k::dropout_forward(Tensor::ones({2}, gs::DType::i64), 0.5, g), doctest::Contains("floating"),
                         gs::Error);
    // Dropped or kept, a NaN input stays NaN (y = x * mask * scale, as in x * mask / (1 - p)).
    const Tensor xn = Tensor::full({64}, std::numeric_limits<double>::quiet_NaN(), gs::DType::f64);
    for (double v : k::dropout_forward(xn, 0.5, g).y.to_vector<double>()) CHECK(std::isnan(v));
    CHECK(k::dropout_forward(Tensor::zeros({0, 3}), 0.5, g).y.numel() == 0);
}
