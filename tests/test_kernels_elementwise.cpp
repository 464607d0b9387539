// Elementwise kernels against naive loops: unary ops and their derivatives, scalar pow/clamp/
// affine, binary ops with broadcasting and strided inputs, comparisons, where, errors, empties.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "kernels/elementwise.h"
#include "test_util.h"

using namespace gs;
using namespace gs::kernels;
using gs::test::check_close;

namespace {

double ref_unary(UnaryOp op, double x) {
    switch (op) {
        case UnaryOp::neg: return -x;
        case UnaryOp::exp: return std::exp(x);
        case UnaryOp::log: return std::log(x);
        case UnaryOp::sqrt: return std::sqrt(x);
        case UnaryOp::abs: return std::fabs(x);
        case UnaryOp::sign: return std::isnan(x) ? x : double((x > 0) - (x < 0));
        case UnaryOp::tanh: return std::tanh(x);
        case UnaryOp::sigmoid: return 1.0 / (1.0 + std::exp(-x));
        case UnaryOp::relu: return std::isnan(x) ? x : (x > 0 ? x : 0.0);
    }
    return 0;
}

// f'(x) written from calculus, independently of the kernels' functors.
double ref_derivative(UnaryOp op, double x) {
    switch (op) {
        case UnaryOp::neg: return -1;
        case UnaryOp::exp: return std::exp(x);
        case UnaryOp::log: return 1 / x;
        case UnaryOp::sqrt: return 0.5 / std::sqrt(x);
        case UnaryOp::abs: return x > 0 ? 1 : (x < 0 ? -1 : 0);
        case UnaryOp::sign: return 0;
        case UnaryOp::tanh: return 1 - std::tanh(x) * std::tanh(x);
        case UnaryOp::sigmoid: {
            const double s = 1 / (1 + std::exp(-x));
            return s * (1 - s);
        }
        case UnaryOp::relu: return x > 0 ? 1 : 0;
    }
    return 0;
}

const UnaryOp kUnary[] = {UnaryOp::neg,  UnaryOp::exp,  UnaryOp::log,     UnaryOp::sqrt, UnaryOp::abs,
                          UnaryOp::sign, UnaryOp::tanh, UnaryOp::sigmoid, UnaryOp::relu};
const BinaryOp kBinary[] = {BinaryOp::add, BinaryOp::sub,     BinaryOp::mul,    BinaryOp::div,
                            BinaryOp::pow, BinaryOp::maximum, BinaryOp::minimum};

bool positive_domain(UnaryOp op) { return op == UnaryOp::log || op == UnaryOp::sqrt; }

double ref_binary(BinaryOp op, double a, double b) {
    switch (op) {
        case BinaryOp::add: return a + b;
        case BinaryOp::sub: return a - b;
        case BinaryOp::mul: return a * b;
        case BinaryOp::div: return a / b;
        case BinaryOp::pow: return std::pow(a, b);
        case BinaryOp::maximum: return std::isnan(a) || std::isnan(b) ? NAN : std::max(a, b);
        case BinaryOp::minimum: return std::isnan(a) || std::isnan(b) ? NAN : std::min(a, b);
    }
    return 0;
}

// Naive broadcast reference: out[coord] = f(a[coord], b[coord]) read through strides.
template <class T>
std::vector<double> ref_broadcast(const Tensor& a, const Tensor& b, const std::function<double(double, double)>& f) {
    const Shape out = broadcast_shapes(a.shape(), b.shape(), "ref");
    std::vector<double> r(std::size_t(numel(out)));
    for (std::int64_t i = 0; i < numel(out); ++i) {
        const auto c = test::unravel(i, out);
        r[std::size_t(i)] = f(double(test::read_bcast<T>(a, c)), double(test::read_bcast<T>(b, c)));
    }
    return r;
}

}  // namespace

TEST_CASE_TEMPLATE("unary ops match the reference on contiguous and strided inputs", T, float, double) {
    Generator gen(1);
    for (UnaryOp op : kUnary) {
        const double lo = positive_domain(op) ? 0.1 : -3.0;
        Tensor base = uniform({33, 7}, gen, lo, 3.0, test::dt<T>());
        for (const Tensor& x : {base, base.t(), base.slice(0, 1, 33, 3)}) {
            Tensor y = unary(op, x);
            CHECK(y.shape() == x.shape());
            CHECK(y.is_contiguous());
            std::vector<double> want;
            for (std::int64_t i = 0; i < x.numel(); ++i)
                want.push_back(ref_unary(op, double(test::read_at<T>(x, test::unravel(i, x.shape())))));
            // exp/tanh/... of float: libm results may differ by an ulp or two from the double reference.
            check_close(y, want, std::is_same_v<T, float> ? 1e-6 : 1e-14, 1e-7, op_name(op));
        }
    }
}

TEST_CASE_TEMPLATE("unary ops propagate NaN", T, float, double) {
    Tensor x = Tensor::from_vector<T>({T(NAN), T(1), T(-1)});
    for (UnaryOp op : kUnary) {
        if (op == UnaryOp::log || op == UnaryOp::sqrt) continue;  // -1 is outside their domain
        Tensor y = unary(op, x);
        INFO(op_name(op));
        CHECK(std::isnan(y.at<double>({0})));
        CHECK(!std::isnan(y.at<double>({1})));
    }
    CHECK(std::isnan(pow(x, 2.0).at<double>({0})));
    CHECK(std::isnan(clamp(x, -0.5, 0.5).at<double>({0})));
    CHECK(clamp(x, -0.5, 0.5).at<double>({2}) == -0.5);
}

TEST_CASE_TEMPLATE("unary_backward equals dy * f'(x)", T, float, double) {
    Generator gen(2);
    for (UnaryOp op : kUnary) {
        const double lo = positive_domain(op) ? 0.1 : -3.0;
        Tensor x = uniform({7, 33}, gen, lo, 3.0, test::dt<T>());
        Tensor dy = normal({33, 7}, gen, 0.0, 1.0, test::dt<T>()).t();  // strided dy
        Tensor y = unary(op, x);
        Tensor dx = unary_backward(op, x, y, dy);
        std::vector<double> want;
        const auto xv = x.to_vector<double>();
        const auto dyv = dy.to_vector<double>();
        for (std::size_t i = 0; i < xv.size(); ++i) want.push_back(dyv[i] * ref_derivative(op, xv[i]));
        // The kernel uses the saved f32 output (e.g. sigmoid's y), so allow float rounding of y.
        check_close(dx, want, std::is_same_v<T, float> ? 1e-5 : 1e-12, 1e-6, op_name(op));
    }
}

TEST_CASE("relu and abs subgradients at 0 are 0 / relu backward gates on y") {
    Tensor x = Tensor::from_vector<double>({0.0, -0.0, 2.0, -2.0});
    Tensor dy = Tensor::from_vector<double>({5.0, 5.0, 5.0, 5.0});
    check_close(unary_backward(UnaryOp::relu, x, unary(UnaryOp::relu, x), dy), {0, 0, 5, 0}, 0, 0);
    check_close(unary_backward(UnaryOp::abs, x, Tensor(), dy), {0, 0, 5, -5}, 0, 0);
    CHECK_THROWS_WITH_AS(unary_backward(UnaryOp::relu, x, Tensor(), dy), doctest::Contains("relu_backward"), gs::Error);
}

TEST_CASE_TEMPLATE("pow / clamp and affine with their backward helpers", T, float, double) {
    Generator gen(3);
    Tensor x = uniform({5, 129}, gen, 0.2, 2.0, test::dt<T>());
    Tensor dy = normal({5, 129}, gen, 0.0, 1.0, test::dt<T>());
    const auto xv = x.to_vector<double>();
    const auto dyv = dy.to_vector<double>();
    const double tol = std::is_same_v<T, float> ? 1e-5 : 1e-13;  // float pow rounding
    for (double p : {2.0, 0.5, -1.5, 0.0, 3.0}) {
        std::vector<double> y, dx;
        for (std::size_t i = 0; i < xv.size(); ++i) {
            y.push_back(std::pow(xv[i], p));
            dx.push_back(p == 0 ? 0.0 : dyv[i] * p * std::pow(xv[i], p - 1));
        }
        check_close(pow(x, p), y, tol, 1e-7, "pow");
        check_close(pow_backward(x, p, dy), dx, tol, 1e-6, "pow_backward");
    }
    std::vector<double> c, dc, af;
    for (std::size_t i = 0; i < xv.size(); ++i) {
        c.push_back(std::min(std::max(xv[i], 0.5), 1.5));
        dc.push_back(xv[i] >= 0.5 && xv[i] <= 1.5 ? dyv[i] : 0.0);
        af.push_back(-2.0 * xv[i] + 0.25);
    }
    check_close(clamp(x, 0.5, 1.5), c, 0, 0, "clamp");
    check_close(clamp_backward(x, 0.5, 1.5, dy), dc, 0, 0, "clamp_backward");
    check_close(affine(x, -2.0, 0.25), af, tol, 1e-7, "affine");
    CHECK_THROWS_WITH_AS(clamp(x, 2.0, 1.0), doctest::Contains("clamp"), gs::Error);
    // pow(0, 0) derivative is 0, not 0 * inf.
    CHECK(pow_backward(Tensor::zeros({1}, test::dt<T>()), 0.0, Tensor::ones({1}, test::dt<T>())).item() == 0.0);
}

TEST_CASE_TEMPLATE("binary ops broadcast and read strided views", T, float, double) {
    Generator gen(4);
    struct Case { Tensor a, b; };
    Tensor big = uniform({7, 33, 5}, gen, 0.5, 2.0, test::dt<T>());
    std::vector<Case> cases = {
        {uniform({7, 1, 33}, gen, 0.5, 2.0, test::dt<T>()), uniform({5, 1}, gen, 0.5, 2.0, test::dt<T>())},
        {uniform({1, 129}, gen, 0.5, 2.0, test::dt<T>()), uniform({7, 1}, gen, 0.5, 2.0, test::dt<T>())},
        {big.permute({0, 2, 1}), uniform({33}, gen, 0.5, 2.0, test::dt<T>())},            // transposed + row
        {big.slice(1, 2, 33, 4), uniform({7, 8, 5}, gen, 0.5, 2.0, test::dt<T>())},       // sliced view
        {Tensor::full({}, 1.5, test::dt<T>()), uniform({3, 7}, gen, 0.5, 2.0, test::dt<T>())},  // 0-d scalar
        {uniform({300, 129}, gen, 0.5, 2.0, test::dt<T>()), uniform({300, 129}, gen, 0.5, 2.0, test::dt<T>())},
        {uniform({300, 129}, gen, 0.5, 2.0, test::dt<T>()).t(), uniform({129, 1}, gen, 0.5, 2.0, test::dt<T>())},
    };
    for (const Case& cs : cases) {
        for (BinaryOp op : kBinary) {
            Tensor y = binary(op, cs.a, cs.b);
            CHECK(y.shape() == broadcast_shapes(cs.a.shape(), cs.b.shape(), "test"));
            const auto want = ref_broadcast<T>(cs.a, cs.b, [op](double a, double b) { return ref_binary(op, a, b); });
            // Single ops in T match the double reference to T's rounding (pow: libm, a few ulps).
            check_close(y, want, std::is_same_v<T, float> ? 1e-6 : 1e-14, 0, op_name(op));
        }
    }
}

TEST_CASE("binary backward matches central differences of the forward (f64)") {
    Generator gen(5);
    Tensor a = uniform({3, 7}, gen, 0.5, 2.0, DType::f64);
    Tensor b = uniform({3, 7}, gen, 0.5, 2.0, DType::f64);
    Tensor dy = normal({3, 7}, gen, 0.0, 1.0, DType::f64);
    const double h = 1e-6;
    for (BinaryOp op : kBinary) {
        Tensor y = binary(op, a, b);
        for (int which = 0; which < 2; ++which) {
            Tensor d = binary_backward(op, which, a, b, y, dy);
            Tensor e = Tensor::full({}, h, DType::f64);
            Tensor plus = which == 0 ? binary(op, binary(BinaryOp::add, a, e), b) : binary(op, a, binary(BinaryOp::add, b, e));
            Tensor minus = which == 0 ? binary(op, binary(BinaryOp::sub, a, e), b) : binary(op, a, binary(BinaryOp::sub, b, e));
            const auto pv = plus.to_vector<double>(), mv = minus.to_vector<double>(), dyv = dy.to_vector<double>();
            std::vector<double> want;
            for (std::size_t i = 0; i < pv.size(); ++i) want.push_back(dyv[i] * (pv[i] - mv[i]) / (2 * h));
            // Central differences with h = 1e-6 are accurate to ~1e-9 here.
            check_close(d, want, 1e-6, 1e-8, std::string(op_name(op)) + (which ? " db" : " da"));
        }
    }
}

TEST_CASE("maximum/minimum propagate NaN and split ties evenly") {
    Tensor a = Tensor::from_vector<double>({NAN, 1.0, 2.0, 3.0});
    Tensor b = Tensor::from_vector<double>({1.0, NAN, 2.0, 0.0});
    Tensor mx = binary(BinaryOp::maximum, a, b);
    Tensor mn = binary(BinaryOp::minimum, a, b);
    CHECK(std::isnan(mx.at<double>({0})));
    CHECK(std::isnan(mx.at<double>({1})));
    CHECK(std::isnan(mn.at<double>({0})));
    CHECK(std::isnan(mn.at<double>({1})));
    CHECK(mx.at<double>({3}) == 3.0);
    CHECK(mn.at<double>({3}) == 0.0);
    Tensor dy = Tensor::ones({4}, DType::f64);
    check_close(binary_backward(BinaryOp::maximum, 0, a, b, Tensor(), dy), {1, 0, 0.5, 1}, 0, 0, "max da");
    check_close(binary_backward(BinaryOp::maximum, 1, a, b, Tensor(), dy), {0, 1, 0.5, 0}, 0, 0, "max db");
}

TEST_CASE_TEMPLATE("comparisons broadcast / return u8 and treat NaN per IEEE", T, float, double, std::int64_t) {
    Generator gen(6);
    Tensor a = randint({7, 1, 33}, gen, 0, 4).to(test::dt<T>());
    Tensor b = randint({5, 1}, gen, 0, 4).to(test::dt<T>());
    const CompareOp ops[] = {CompareOp::eq, CompareOp::ne, CompareOp::lt, CompareOp::le, CompareOp::gt, CompareOp::ge};
    const std::function<bool(double, double)> refs[] = {
        [](double x, double y) { return x == y; }, [](double x, double y) { return x != y; },
        [](double x, double y) { return x < y; },  [](double x, double y) { return x <= y; },
        [](double x, double y) { return x > y; },  [](double x, double y) { return x >= y; }};
    for (int k = 0; k < 6; ++k) {
        Tensor c = compare(ops[k], a, b.t().t());
        CHECK(c.dtype() == DType::u8);
        CHECK(c.shape() == Shape{7, 5, 33});
        check_close(c, ref_broadcast<T>(a, b, [&](double x, double y) { return double(refs[k](x, y)); }), 0, 0,
                    op_name(ops[k]));
    }
    if constexpr (std::is_floating_point_v<T>) {
        Tensor n = Tensor::from_vector<T>({T(NAN)});
        CHECK(compare(CompareOp::eq, n, n).item() == 0);
        CHECK(compare(CompareOp::ne, n, n).item() == 1);
        CHECK(compare(CompareOp::le, n, n).item() == 0);
    }
}

TEST_CASE_TEMPLATE("where broadcasts cond / a and b", T, float, double) {
    Generator gen(7);
    Tensor cond = bernoulli({7, 1, 1}, gen, 0.5).to(DType::u8);
    Tensor a = normal({1, 5, 33}, gen, 0.0, 1.0, test::dt<T>());
    Tensor b = normal({33, 5}, gen, 0.0, 1.0, test::dt<T>()).t();  // strided [5, 33]
    Tensor y = where(cond, a, b);
    CHECK(y.shape() == Shape{7, 5, 33});
    std::vector<double> want;
    for (std::int64_t i = 0; i < y.numel(); ++i) {
        const auto c = test::unravel(i, y.shape());
        want.push_back(test::read_bcast<std::uint8_t>(cond, c) ? double(test::read_bcast<T>(a, c))
                                                               : double(test::read_bcast<T>(b, c)));
    }
    check_close(y, want, 0, 0, "where");
    CHECK_THROWS_WITH_AS(where(a, a, b), doctest::Contains("cond must be u8"), gs::Error);
}

TEST_CASE("elementwise errors name the op and the offending dtypes or shapes") {
    Tensor f = Tensor::ones({3}, DType::f32);
    Tensor d = Tensor::ones({3}, DType::f64);
    Tensor i = Tensor::ones({3}, DType::i64);
    CHECK_THROWS_WITH_AS(binary(BinaryOp::mul, f, d), doctest::Contains("mul: dtype mismatch, f32 vs f64"), gs::Error);
    CHECK_THROWS_WITH_AS(binary(BinaryOp::add, f, Tensor::ones({4})), doctest::Contains("add: shapes [3] and [4]"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(unary(UnaryOp::exp, i), doctest::Contains("exp: expected a floating dtype"), gs::Error);
    CHECK_THROWS_WITH_AS(binary(BinaryOp::add, i, i), doctest::Contains("add"), gs::Error);
    CHECK_THROWS_WITH_AS(compare(CompareOp::lt, f, i), doctest::Contains("lt: dtype mismatch, f32 vs i64"), gs::Error);
    CHECK_THROWS_WITH_AS(unary_backward(UnaryOp::exp, f, f, Tensor::ones({4})), doctest::Contains("shape"), gs::Error);
    CHECK_THROWS_AS(binary(BinaryOp::add, f, Tensor()), gs::Error);
}

TEST_CASE("elementwise ops on empty tensors return empty results") {
    Tensor e = Tensor::empty({0, 3}, DType::f32);
    CHECK(unary(UnaryOp::relu, e).shape() == Shape{0, 3});
    CHECK(binary(BinaryOp::add, e, Tensor::ones({3})).shape() == Shape{0, 3});
    CHECK(compare(CompareOp::eq, e, Tensor::ones({1})).shape() == Shape{0, 3});
    CHECK(where(Tensor::zeros({0, 1}, DType::u8), e, Tensor::ones({3})).shape() == Shape{0, 3});
    CHECK(unary_backward(UnaryOp::relu, e, e, e).numel() == 0);
}

TEST_CASE("increment adds one to every element of an i64 tensor and refuses other dtypes") {
    const Tensor counter = Tensor::full({}, 41.0, DType::i64);
    const Tensor bumped = increment(counter);
    CHECK(bumped.item<std::int64_t>() == 42);
    CHECK(counter.item<std::int64_t>() == 41);  // out of place
    const Tensor big = Tensor::from_vector(std::vector<std::int64_t>{-1, 0, std::int64_t(1) << 40});
    CHECK(increment(big).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, (std::int64_t(1) << 40) + 1});
    CHECK_THROWS_WITH_AS(increment(Tensor::ones({2})), doctest::Contains("increment: needs an i64 tensor"), gs::Error);
}
