// Reduction kernels against naive loops over every layout the planner distinguishes (inner run,
// leading axes, middle block, scattered axes via a permuted copy, strided views), plus var's
// stability, NaN handling, arg-reductions, sum_to, thread-count independence, errors, empties.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <omp.h>

#include "kernels/elementwise.h"
#include "kernels/reduce.h"
#include "test_util.h"

using namespace gs;
using namespace gs::kernels;
using gs::test::check_close;

namespace {

// Naive reduction: groups every element of x by its output coordinate (reduced coords dropped) and
// applies `fold` to the group's values in index order.
std::vector<double> ref_reduce(const Tensor& x, const std::vector<std::int64_t>& axes_in,
                               const std::function<double(const std::vector<double>&)>& fold) {
    std::vector<std::int64_t> axes;
    for (auto a : axes_in) axes.push_back(a < 0 ? a + x.dim() : a);
    if (axes.empty())
        for (std::int64_t d = 0; d < x.dim(); ++d) axes.push_back(d);
    Shape out;
    for (std::int64_t d = 0; d < x.dim(); ++d)
        if (std::find(axes.begin(), axes.end(), d) == axes.end()) out.push_back(x.size(d));
    std::vector<std::vector<double>> groups(std::size_t(numel(out)));
    const Tensor xd = x.to(DType::f64);
    for (std::int64_t i = 0; i < x.numel(); ++i) {
        const auto c = test::unravel(i, x.shape());
        std::int64_t o = 0;
        for (std::int64_t d = 0; d < x.dim(); ++d)
            if (std::find(axes.begin(), axes.end(), d) == axes.end()) o = o * x.size(d) + c[std::size_t(d)];
        groups[std::size_t(o)].push_back(test::read_at<double>(xd, c));
    }
    std::vector<double> r;
    for (const auto& g : groups) r.push_back(fold(g));
    return r;
}

double fsum(const std::vector<double>& v) {
    long double s = 0;
    for (double x : v) s += x;
    return double(s);
}
double fmean(const std::vector<double>& v) { return fsum(v) / double(v.size()); }
double ref_max(const std::vector<double>& v) {
    double m = v[0];
    for (double x : v) {
        if (std::isnan(x)) return x;
        m = std::max(m, x);
    }
    return m;
}
double ref_min(const std::vector<double>& v) {
    double m = v[0];
    for (double x : v) {
        if (std::isnan(x)) return x;
        m = std::min(m, x);
    }
    return m;
}
std::function<double(const std::vector<double>&)> fvar(double correction) {
    return [correction](const std::vector<double>& v) {
        const long double m = fmean(v);
        long double s = 0;
        for (double x : v) s += (x - m) * (x - m);
        return double(s / std::max<long double>(double(v.size()) - correction, 0));
    };
}

}  // namespace

TEST_CASE_TEMPLATE("sum/mean/max/min/var match naive loops over every layout", T, float, double) {
    Generator gen(11);
    Tensor base = normal({5, 7, 33}, gen, 0.0, 1.0, test::dt<T>());
    const std::vector<Tensor> inputs = {base, base.permute({2, 0, 1}), base.slice(2, 1, 33, 2),
                                        normal({3, 1, 4, 5}, gen, 0.0, 1.0, test::dt<T>())};
    const std::vector<std::vector<std::int64_t>> axes_sets = {{}, {0}, {1}, {2}, {-1}, {0, 2}, {2, 0}, {0, 1}, {1, 2}, {-1, -3}};
    // Sums accumulate in double; the f32 result is that sum rounded to float.
    const double tol = std::is_same_v<T, float> ? 1e-6 : 1e-13;
    for (const Tensor& x : inputs) {
        for (const auto& axes : axes_sets) {
            if (x.dim() == 4 && axes.size() > 1 && axes[0] == -1) continue;
            for (bool keepdim : {false, true}) {
                INFO("x ", x.describe(), " axes size ", axes.size(), " keepdim ", keepdim);
                Tensor s = sum(x, axes, keepdim);
                CHECK(s.shape() == reduced_shape(x.shape(), normalize_axes(axes, x.dim(), "t"), keepdim));
                check_close(s, ref_reduce(x, axes, fsum), tol, 1e-12, "sum");
                check_close(mean(x, axes, keepdim), ref_reduce(x, axes, fmean), tol, 1e-12, "mean");
                check_close(max(x, axes, keepdim), ref_reduce(x, axes, ref_max), 0, 0, "max");
                check_close(min(x, axes, keepdim), ref_reduce(x, axes, ref_min), 0, 0, "min");
                check_close(var(x, axes, 1, keepdim), ref_reduce(x, axes, fvar(1)), tol * 10, 1e-12, "var1");
                check_close(var(x, axes, 0, keepdim), ref_reduce(x, axes, fvar(0)), tol * 10, 1e-12, "var0");
            }
        }
    }
}

TEST_CASE("long reductions take the blocked and tiled paths and stay exact in double") {
    Generator gen(12);
    Tensor x = normal({200001}, gen, 1.0, 1.0, DType::f32);  // blocked path: one long run
    check_close(sum(x), ref_reduce(x, {}, fsum), 1e-6, 0, "sum");  // double accumulation: rounding of one f32 result
    check_close(max(x), ref_reduce(x, {}, ref_max), 0, 0, "max");
    check_close(var(x), ref_reduce(x, {}, fvar(1)), 1e-6, 0, "var");
    Tensor m = normal({301, 257}, gen, 0.0, 1.0, DType::f64);  // tiled path: leading axis, B > kTile
    check_close(sum(m, {0}), ref_reduce(m, {0}, fsum), 1e-13, 1e-13, "sum0");
    check_close(min(m, {0}), ref_reduce(m, {0}, ref_min), 0, 0, "min0");
}

TEST_CASE("reductions do not depend on the thread count") {
    Generator gen(13);
    Tensor x = normal({1000003}, gen, 0.0, 1.0, DType::f32);
    Tensor m = normal({77, 1003}, gen, 0.0, 1.0, DType::f32);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const auto a1 = sum(x).to_vector<float>(), b1 = sum(m, {0}).to_vector<float>(), c1 = var(m, {1}).to_vector<float>();
    omp_set_num_threads(3);
    const auto a3 = sum(x).to_vector<float>(), b3 = sum(m, {0}).to_vector<float>(), c3 = var(m, {1}).to_vector<float>();
    omp_set_num_threads(saved);
    CHECK(a1 == a3);
    CHECK(b1 == b3);
    CHECK(c1 == c3);
}

TEST_CASE("var is two-pass stable for a large offset") {
    // One-pass E[x^2] - E[x]^2 loses every digit here (E[x^2] ~ 1e16 against a variance ~1).
    Generator gen(14);
    Tensor z = normal({1001}, gen, 0.0, 1.0, DType::f64);
    Tensor x = affine(z, 1.0, 1e8);
    const double want = var(z).item();
    // Shifting by 1e8 costs ~1e-8 absolute per element (f64 spacing at 1e8 is 1.5e-8).
    CHECK(std::abs(var(x).item() - want) < 1e-6);
}

TEST_CASE("NaN propagates through every reduction") {
    Tensor x = Tensor::from_vector<double>({1, 2, NAN, 4, 5, 6}, {2, 3});
    for (ReduceOp op : {ReduceOp::sum, ReduceOp::mean, ReduceOp::max, ReduceOp::min}) {
        Tensor r = reduce(op, x, {1});
        INFO(op_name(op));
        CHECK(std::isnan(r.at<double>({0})));
        CHECK(!std::isnan(r.at<double>({1})));
    }
    CHECK(std::isnan(var(x, {1}).at<double>({0})));
    // NaN first, last and in the middle of a run; also on the tiled (leading axis) path.
    CHECK(std::isnan(max(Tensor::from_vector<float>({NAN, 1, 2})).item()));
    CHECK(std::isnan(min(Tensor::from_vector<float>({1, 2, NAN})).item()));
    CHECK(std::isnan(max(x, {0}).at<double>({2})));
    CHECK(argmax(x, 1).to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 2});
    CHECK(argmin(x, 1).to_vector<std::int64_t>() == std::vector<std::int64_t>{2, 0});
    CHECK(argmax(Tensor::from_vector<double>({NAN, 1, NAN}), 0).item<std::int64_t>() == 0);
}

TEST_CASE_TEMPLATE("argmax/argmin: first index on ties / any dim / strided and integer inputs", T, float, double,
                   std::int64_t) {
    Generator gen(15);
    // Few distinct values, so ties are frequent.
    Tensor base = randint({5, 7, 66}, gen, 0, 4).to(test::dt<T>());
    for (const Tensor& x : {base, base.permute({2, 1, 0}), base.slice(2, 0, 66, 2)}) {
        for (std::int64_t dim = -3; dim < 3; ++dim) {
            const std::int64_t d = dim < 0 ? dim + 3 : dim;
            Shape out = x.shape();
            out.erase(out.begin() + d);
            std::vector<double> wmax, wmin;
            for (std::int64_t o = 0; o < numel(out); ++o) {
                auto c = test::unravel(o, out);
                c.insert(c.begin() + d, 0);
                std::int64_t bi = 0, si = 0;
                double bv = double(test::read_at<T>(x, c)), sv = bv;
                for (std::int64_t r = 1; r < x.size(d); ++r) {
                    c[std::size_t(d)] = r;
                    const double v = double(test::read_at<T>(x, c));
                    if (v > bv) bv = v, bi = r;
                    if (v < sv) sv = v, si = r;
                }
                wmax.push_back(double(bi));
                wmin.push_back(double(si));
            }
            INFO("dim ", dim, " x ", x.describe());
            Tensor am = argmax(x, dim);
            CHECK(am.dtype() == DType::i64);
            CHECK(am.shape() == out);
            check_close(am, wmax, 0, 0, "argmax");
            check_close(argmin(x, dim), wmin, 0, 0, "argmin");
            CHECK(argmax(x, dim, true).dim() == 3);
        }
    }
}

TEST_CASE("sum_to undoes broadcasting") {
    Generator gen(16);
    Tensor x = normal({7, 5, 33}, gen, 0.0, 1.0, DType::f64);
    check_close(sum_to(x, {5, 1}), ref_reduce(x, {0, 2}, fsum), 1e-13, 1e-13, "[5,1]");
    CHECK(sum_to(x, {5, 1}).shape() == Shape{5, 1});
    check_close(sum_to(x, {1, 33}), ref_reduce(x, {0, 1}, fsum), 1e-13, 1e-13, "[1,33]");
    check_close(sum_to(x, {}), ref_reduce(x, {}, fsum), 1e-13, 1e-13, "[]");
    CHECK(sum_to(x, {}).dim() == 0);
    check_close(sum_to(x, {7, 1, 1}), ref_reduce(x, {1, 2}, fsum), 1e-13, 1e-13, "[7,1,1]");
    Tensor same = sum_to(x.transpose(0, 2).transpose(0, 2), {7, 5, 33});
    CHECK(!same.shares_storage(x));
    check_close(same, x.to_vector<double>(), 0, 0, "same");
    CHECK_THROWS_WITH_AS(sum_to(x, {3, 1}), doctest::Contains("sum_to"), gs::Error);
    CHECK_THROWS_WITH_AS(sum_to(x, {2, 7, 5, 33}), doctest::Contains("sum_to"), gs::Error);
}

TEST_CASE("reduction errors and empty tensors") {
    Tensor x = Tensor::ones({2, 3}, DType::f32);
    CHECK_THROWS_WITH_AS(sum(x, {1, -1}), doctest::Contains("sum: axis -1 is repeated"), gs::Error);
    CHECK_THROWS_WITH_AS(max(x, {2}), doctest::Contains("max: axis 2 is out of range"), gs::Error);
    CHECK_THROWS_WITH_AS(argmax(x, -3), doctest::Contains("argmax"), gs::Error);
    CHECK_THROWS_WITH_AS(sum(Tensor::ones({2}, DType::i64)), doctest::Contains("sum: expected a floating dtype"), gs::Error);
    CHECK_THROWS_WITH_AS(var(x, {}, -1), doctest::Contains("correction"), gs::Error);

    Tensor e = Tensor::empty({3, 0}, DType::f64);
    check_close(sum(e, {1}), {0, 0, 0}, 0, 0, "empty sum");
    check_close(mean(e, {1}), {NAN, NAN, NAN}, 0, 0, "empty mean");
    CHECK(std::isnan(var(e).item()));
    CHECK(sum(e, {0}).shape() == Shape{0});
    CHECK(max(e, {0}).shape() == Shape{0});
    CHECK_THROWS_WITH_AS(max(e, {1}), doctest::Contains("max: cannot reduce an empty extent"), gs::Error);
    CHECK_THROWS_WITH_AS(argmin(e, 1), doctest::Contains("argmin: dim 1"), gs::Error);
    // var with n <= correction: 0/0 is NaN (torch gives NaN/inf too).
    CHECK(std::isnan(var(Tensor::ones({1}, DType::f64)).item()));
    // 0-d input: reducing everything returns the element.
    CHECK(sum(Tensor::full({}, 2.5, DType::f64)).item() == 2.5);
}
