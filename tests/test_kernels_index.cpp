// Index kernels against naive loops: index_select / index_add and gather / scatter_add on every
// dim, strided inputs, duplicate indices, the adjoint identities, range errors, empty indices.
#include <doctest/doctest.h>

#include "kernels/index.h"
#include "test_util.h"

using namespace gs;
using namespace gs::kernels;
using gs::test::check_close;

namespace {

double dot(const Tensor& a, const Tensor& b) {
    const auto x = a.to_vector<double>(), y = b.to_vector<double>();
    REQUIRE(x.size() == y.size());
    double s = 0;
    for (std::size_t i = 0; i < x.size(); ++i) s += x[i] * y[i];
    return s;
}

}  // namespace

TEST_CASE_TEMPLATE("index_select and index_add match naive loops and are adjoint", T, float, double, std::int64_t) {
    Generator gen(21);
    Tensor base = randint({4, 5, 33}, gen, -50, 50).to(test::dt<T>());
    for (const Tensor& x : {base, base.permute({2, 0, 1}), base.slice(2, 1, 33, 3)}) {
        for (std::int64_t dim = -1; dim < 3; ++dim) {
            const std::int64_t d = dim < 0 ? dim + 3 : dim;
            const std::int64_t n = x.size(d);
            Tensor idx = Tensor::from_vector<std::int64_t>({n - 1, 0, n - 1, n / 2, 0, 1, n - 1});  // duplicates
            Tensor y = index_select(x, dim, idx);
            Shape ys = x.shape();
            ys[std::size_t(d)] = 7;
            CHECK(y.shape() == ys);
            std::vector<double> want;
            for (std::int64_t i = 0; i < y.numel(); ++i) {
                auto c = test::unravel(i, ys);
                c[std::size_t(d)] = idx.at<std::int64_t>({c[std::size_t(d)]});
                want.push_back(double(test::read_at<T>(x, c)));
            }
            INFO("dim ", dim, " x ", x.describe());
            check_close(y, want, 0, 0, "index_select");

            // index_add: naive scatter of src rows, duplicates summed.
            Tensor src = randint(ys, gen, -9, 9).to(test::dt<T>());
            Tensor a = index_add(x.shape(), dim, idx, src);
            std::vector<double> acc(std::size_t(x.numel()), 0.0);
            const Strides xs = contiguous_strides(x.shape());
            for (std::int64_t i = 0; i < src.numel(); ++i) {
                auto c = test::unravel(i, ys);
                const double v = double(test::read_at<T>(src, c));
                c[std::size_t(d)] = idx.at<std::int64_t>({c[std::size_t(d)]});
                std::int64_t o = 0;
                for (std::size_t k = 0; k < c.size(); ++k) o += c[k] * xs[k];
                acc[std::size_t(o)] += v;
            }
            check_close(a, acc, 0, 0, "index_add");
            // <index_select(x), s> == <x, index_add(s)>: the defining property of the backward.
            CHECK(dot(y, src) == doctest::Approx(dot(x, a)).epsilon(1e-12));
        }
    }
}

TEST_CASE_TEMPLATE("gather and scatter_add match naive loops and are adjoint", T, float, double) {
    Generator gen(22);
    Tensor base = normal({6, 7, 9}, gen, 0.0, 1.0, test::dt<T>());
    for (const Tensor& x : {base, base.transpose(0, 2).transpose(0, 2).slice(1, 0, 7, 1), base.permute({1, 0, 2})}) {
        for (std::int64_t dim = -3; dim < 3; ++dim) {
            const std::int64_t d = dim < 0 ? dim + 3 : dim;
            // index: smaller than x off `dim` (torch allows it), larger along dim, duplicates likely.
            Shape is = {x.size(0) - 1, x.size(1), x.size(2) - 2};
            is[std::size_t(d)] = x.size(d) + 3;
            Tensor idx = randint(is, gen, 0, x.size(d));
            Tensor y = gather(x, dim, idx);
            CHECK(y.shape() == is);
            std::vector<double> want;
            for (std::int64_t i = 0; i < y.numel(); ++i) {
                auto c = test::unravel(i, is);
                const auto ic = c;
                c[std::size_t(d)] = test::read_at<std::int64_t>(idx, ic);
                want.push_back(double(test::read_at<T>(x, c)));
            }
            INFO("dim ", dim, " x ", x.describe());
            check_close(y, want, 0, 0, "gather");

            // scatter_add with a strided src larger than index (read where index is defined).
            Tensor src_full = normal({is[0] + 1, is[1] + 2, is[2] + 1}, gen, 0.0, 1.0, test::dt<T>());
            Tensor src = src_full.transpose(0, 2).contiguous().transpose(0, 2);  // non-contiguous
            Tensor s = scatter_add(x.shape(), dim, idx, src);
            CHECK(s.shape() == x.shape());
            std::vector<double> acc(std::size_t(x.numel()), 0.0);
            const Strides xs = contiguous_strides(x.shape());
            for (std::int64_t i = 0; i < idx.numel(); ++i) {
                auto c = test::unravel(i, is);
                const double v = double(test::read_at<T>(src, c));
                c[std::size_t(d)] = test::read_at<std::int64_t>(idx, test::unravel(i, is));
                std::int64_t o = 0;
                for (std::size_t k = 0; k < c.size(); ++k) o += c[k] * xs[k];
                acc[std::size_t(o)] += v;
            }
            // Summation order per element is index order in both; f32 rounding may still differ
            // from the double reference.
            check_close(s, acc, std::is_same_v<T, float> ? 1e-5 : 1e-13, 1e-6, "scatter_add");
            // <gather(x), g> == <x, scatter_add(g)>.
            Tensor g = normal(is, gen, 0.0, 1.0, test::dt<T>());
            CHECK(dot(y, g) == doctest::Approx(dot(x, scatter_add(x.shape(), dim, idx, g))).epsilon(1e-5));
        }
    }
}

TEST_CASE("index ops on a large input take the parallel paths") {
    Generator gen(23);
    Tensor x = normal({600, 129}, gen, 0.0, 1.0, DType::f64);
    Tensor idx = randint({2000}, gen, 0, 600);
    Tensor y = index_select(x, 0, idx);
    Tensor a = index_add({600, 129}, 0, idx, y);
    // a[r] = count(r) * x[r]
    std::vector<double> cnt(600, 0.0);
    for (auto v : idx.to_vector<std::int64_t>()) cnt[std::size_t(v)] += 1;
    std::vector<double> want;
    const auto xv = x.to_vector<double>();
    for (std::size_t i = 0; i < xv.size(); ++i) want.push_back(cnt[i / 129] * xv[i]);
    check_close(a, want, 1e-13, 1e-13, "index_add");
    Tensor gi = randint({600, 129}, gen, 0, 129);
    Tensor g = gather(x, 1, gi);
    Tensor s = scatter_add({600, 129}, 1, gi, g);
    CHECK(s.shape() == Shape{600, 129});
    CHECK(dot(g, g) == doctest::Approx(dot(x, s)).epsilon(1e-12));
}

TEST_CASE("index errors name the op / the bad value and the valid range") {
    Tensor x = Tensor::ones({3, 5}, DType::f32);
    CHECK_THROWS_WITH_AS(index_select(x, 1, Tensor::from_vector<std::int64_t>({0, 5})),
                         doctest::Contains("index_select: index 5 is out of range for dim 1 of size 5 (valid: [0, 5))"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(index_select(x, 0, Tensor::from_vector<std::int64_t>({-1})),
                         doctest::Contains("index_select: index -1 is out of range"), gs::Error);
    CHECK_THROWS_WITH_AS(index_select(x, 0, Tensor::from_vector<float>({0})), doctest::Contains("must be i64"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(index_select(x, 0, Tensor::zeros({1, 1}, DType::i64)), doctest::Contains("1-d"), gs::Error);
    CHECK_THROWS_WITH_AS(index_select(x, 2, Tensor::zeros({1}, DType::i64)), doctest::Contains("index_select"), gs::Error);
    CHECK_THROWS_WITH_AS(gather(x, 1, Tensor::full({3, 1}, 7, DType::i64)),
                         doctest::Contains("gather: index 7 is out of range for dim 1 of size 5"), gs::Error);
    CHECK_THROWS_WITH_AS(gather(x, 1, Tensor::zeros({4, 1}, DType::i64)), doctest::Contains("larger than x"), gs::Error);
    CHECK_THROWS_WITH_AS(gather(x, 1, Tensor::zeros({3}, DType::i64)), doctest::Contains("ndim"), gs::Error);
    CHECK_THROWS_WITH_AS(scatter_add({3, 5}, 0, Tensor::full({1, 1}, 3, DType::i64), Tensor::ones({1, 1})),
                         doctest::Contains("scatter_add: index 3 is out of range for dim 0 of size 3"), gs::Error);
    CHECK_THROWS_WITH_AS(scatter_add({3, 5}, 0, Tensor::zeros({2, 2}, DType::i64), Tensor::ones({1, 2})),
                         doctest::Contains("larger than src"), gs::Error);
    CHECK_THROWS_WITH_AS(index_add({3, 5}, 0, Tensor::from_vector<std::int64_t>({0, 1}), Tensor::ones({3, 5})),
                         doctest::Contains("index_add: src has shape [3, 5], expected [2, 5]"), gs::Error);
}

TEST_CASE("empty indices give empty or zero results") {
    Tensor x = Tensor::ones({3, 5}, DType::f64);
    Tensor none = Tensor::empty({0}, DType::i64);
    CHECK(index_select(x, 1, none).shape() == Shape{3, 0});
    check_close(index_add({2, 2}, 0, none, Tensor::empty({0, 2}, DType::f64)), {0, 0, 0, 0}, 0, 0, "index_add");
    CHECK(gather(x, 0, Tensor::empty({0, 5}, DType::i64)).shape() == Shape{0, 5});
    check_close(scatter_add({2, 2}, 1, Tensor::empty({2, 0}, DType::i64), Tensor::empty({2, 0}, DType::f64)), {0, 0, 0, 0},
                0, 0, "scatter_add");
}
