// Gradchecks (f64, random-weighted projection, every element) of the elementwise autograd ops,
// including broadcasting, strided inputs and the Variable operators. Inputs to ops with kinks
// (relu, abs, clamp, maximum/minimum) are drawn at least 0.1 away from the kink.
#include <doctest/doctest.h>

#include "autograd/elementwise.h"
#include "autograd/function.h"
#include "autograd/shape.h"
#include "tensor/random.h"
#include "test_util.h"

using namespace gs;
using namespace gs::autograd;
using V = std::vector<Variable>;
namespace k = gs::kernels;

namespace {

Tensor uniform64(const Shape& s, std::uint64_t seed, double lo, double hi) {
    Generator g(seed, 3);
    return uniform(s, g, lo, hi, DType::f64);
}

// Values with |x - point| >= margin: shift each standard normal away from 0, then by point.
Tensor away_from(const Shape& s, std::uint64_t seed, double point, double margin) {
    auto v = test::randn64(s, seed).to_vector<double>();
    for (double& x : v) x = point + (x >= 0 ? margin + x : -margin + x);
    return Tensor::from_vector(v, s);
}

}  // namespace

TEST_CASE("gradcheck: unary ops") {
    const Shape s{3, 5};
    const Tensor any = test::randn64(s, 1);
    const Tensor pos = uniform64(s, 2, 0.5, 2.0);
    const Tensor kinked = away_from(s, 3, 0.0, 0.1);
    test::check_grad("neg", [](const V& v) { return neg(v[0]); }, {any});
    test::check_grad("exp", [](const V& v) { return exp(v[0]); }, {any});
    test::check_grad("log", [](const V& v) { return log(v[0]); }, {pos});
    test::check_grad("sqrt", [](const V& v) { return sqrt(v[0]); }, {pos});
    test::check_grad("abs", [](const V& v) { return abs(v[0]); }, {kinked});
    test::check_grad("sign", [](const V& v) { return sign(v[0]); }, {kinked});
    test::check_grad("tanh", [](const V& v) { return tanh(v[0]); }, {any});
    test::check_grad("sigmoid", [](const V& v) { return sigmoid(v[0]); }, {any});
    test::check_grad("relu", [](const V& v) { return relu(v[0]); }, {kinked});
    // A strided (transposed) input and a chain of ops.
    test::check_grad("tanh(relu(x^T))", [](const V& v) { return tanh(relu(transpose(v[0], 0, 1))); }, {kinked});
}

TEST_CASE("gradcheck: pow / clamp / affine") {
    const Tensor pos = uniform64({4, 3}, 4, 0.5, 2.0);
    for (double p : {2.0, 3.0, 0.5, -1.5, 0.0})
        test::check_grad("pow " + std::to_string(p), [p](const V& v) { return pow(v[0], p); }, {pos});
    test::check_grad("pow 2 of negatives", [](const V& v) { return pow(v[0], 2.0); }, {test::randn64({4, 3}, 5)});
    // Away from lo = -0.5 and hi = 0.5: values within 0.1 of either bound are moved to the middle.
    auto x = test::randn64({5, 7}, 6).to_vector<double>();
    for (double& e : x)
        if (std::abs(std::abs(e) - 0.5) < 0.1) e = 0.0;
    test::check_grad("clamp", [](const V& v) { return clamp(v[0], -0.5, 0.5); }, {Tensor::from_vector(x, {5, 7})});
    test::check_grad("affine", [](const V& v) { return affine(v[0], -1.5, 2.0); }, {test::randn64({2, 3}, 7)});
}

TEST_CASE("gradcheck: binary ops with broadcasting") {
    struct Case {
        Shape a, b;
    };
    const std::vector<Case> cases = {{{2, 3}, {2, 3}}, {{2, 1, 3}, {4, 1}}, {{}, {3, 2}}, {{3, 1}, {1, 4}}, {{5}, {2, 1, 5}}};
    std::uint64_t seed = 10;
    for (const Case& c : cases) {
        const Tensor a = test::randn64(c.a, ++seed), b = test::randn64(c.b, ++seed);
        const Tensor ap = uniform64(c.a, ++seed, 0.5, 2.0), bp = uniform64(c.b, ++seed, 0.5, 2.0);
        std::string tag(" ");  // built by appends: GCC 12 warns falsely (-Wrestrict) on " " + std::string
        tag += shape_str(c.a) + " " + shape_str(c.b);
        test::check_grad("add" + tag, [](const V& v) { return add(v[0], v[1]); }, {a, b});
        test::check_grad("sub" + tag, [](const V& v) { return sub(v[0], v[1]); }, {a, b});
        test::check_grad("mul" + tag, [](const V& v) { return mul(v[0], v[1]); }, {a, b});
        test::check_grad("div" + tag, [](const V& v) { return div(v[0], v[1]); }, {a, bp});
        test::check_grad("pow" + tag, [](const V& v) { return pow(v[0], v[1]); }, {ap, b});
        // maximum/minimum away from ties: compare a with a + d, |d| >= 0.1, so the two sides
        // never come within 0.1 of each other (under broadcasting too); both inputs get gradients.
        const Tensor far = away_from(c.b, ++seed, 0.0, 0.1);
        auto shifted = [](const V& v, bool mx) {
            Variable other = add(v[0], v[1]);
            return mx ? maximum(v[0], other) : minimum(v[0], other);
        };
        test::check_grad("maximum" + tag, [&](const V& v) { return shifted(v, true); }, {a, far});
        test::check_grad("minimum" + tag, [&](const V& v) { return shifted(v, false); }, {a, far});
    }
}

TEST_CASE("gradcheck: where and the Variable operators") {
    Generator g(20);
    const Tensor cond = bernoulli({3, 1}, g, 0.5).to(DType::u8);
    test::check_grad("where", [cond](const V& v) { return where(cond, v[0], v[1]); },
                     {test::randn64({3, 4}, 21), test::randn64({4}, 22)});
    const Tensor a = test::randn64({2, 3}, 23), b = uniform64({3}, 24, 0.5, 2.0);
    test::check_grad("a+b", [](const V& v) { return v[0] + v[1]; }, {a, b});
    test::check_grad("a-b", [](const V& v) { return v[0] - v[1]; }, {a, b});
    test::check_grad("a*b", [](const V& v) { return v[0] * v[1]; }, {a, b});
    test::check_grad("a/b", [](const V& v) { return v[0] / v[1]; }, {a, b});
    test::check_grad("-a", [](const V& v) { return -v[0]; }, {a});
    test::check_grad("scalars", [](const V& v) { return (2.0 * v[0] + 1.0) * (v[0] - 3.0) / 4.0 - 0.5; }, {a});
    test::check_grad("scalar left", [](const V& v) { return (1.0 - v[0]) * (2.0 / v[0]) + v[0] * 3.0 + 5.0 + v[0]; },
                     {b});
    // The same variable on both sides of a broadcasting op.
    test::check_grad("x * x^T broadcast", [](const V& v) { return v[0] * reshape(v[0], {3, 1}); }, {b});
}

TEST_CASE("elementwise autograd: only requested gradients / tie split / values") {
    Variable a(Tensor::from_vector<double>({1.0, 2.0, 3.0}), true);
    Variable b(Tensor::from_vector<double>({1.0, 5.0, 0.0}), false);
    Variable y = maximum(a, b);
    CHECK(y.value().to_vector<double>() == std::vector<double>{1.0, 5.0, 3.0});
    y.backward(Tensor::ones({3}, DType::f64));
    CHECK(a.grad().to_vector<double>() == std::vector<double>{0.5, 0.0, 1.0});  // tie at 0 splits
    CHECK(!b.grad().defined());
    // No input requires grad: no graph.
    Variable c = Variable(Tensor::ones({2}, DType::f64)) * 2.0;
    CHECK(!c.requires_grad());
    // Broadcast gradients come back in the input's shape.
    Variable s(Tensor::full({}, 2.0, DType::f64), true);
    Variable m(Tensor::ones({2, 3}, DType::f64), true);
    (s * m).backward(Tensor::ones({2, 3}, DType::f64));
    CHECK(s.grad().dim() == 0);
    CHECK(s.grad().item() == 6.0);
    CHECK(m.grad().shape() == Shape{2, 3});
}
