// The autograd engine's semantics, with small ops defined here through make_result so that the
// engine is tested on its own.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "autograd/engine.h"
#include "autograd/function.h"
#include "autograd/shape.h"
#include "test_util.h"

using namespace gs;
using namespace gs::autograd;

namespace {

// Elementwise helpers on same-shape f64 tensors.
template <class F>
Tensor zipmap(const Tensor& a, const Tensor& b, F f) {
    Tensor out = Tensor::empty(a.shape(), DType::f64);
    const Tensor ac = a.contiguous(), bc = b.contiguous();
    for (std::int64_t i = 0; i < a.numel(); ++i) out.data<double>()[i] = f(ac.data<double>()[i], bc.data<double>()[i]);
    return out;
}

int g_backward_calls = 0;

Variable tadd(const Variable& a, const Variable& b) {
    return make_result(zipmap(a.value(), b.value(), [](double x, double y) { return x + y; }), {a, b}, "tadd",
                       [](const Tensor& dy) {
                           ++g_backward_calls;
                           return std::vector{dy, dy};  // the same tensor for both inputs
                       });
}

Variable tmul(const Variable& a, const Variable& b) {
    Tensor av = a.value(), bv = b.value();
    return make_result(zipmap(av, bv, [](double x, double y) { return x * y; }), {a, b}, "tmul",
                       [av, bv](const Tensor& dy) {
                           ++g_backward_calls;
                           return std::vector{zipmap(dy, bv, [](double g, double y) { return g * y; }),
                                              zipmap(dy, av, [](double g, double x) { return g * x; })};
                       });
}

Variable tscale(const Variable& a, double c) {
    return make_result(zipmap(a.value(), a.value(), [c](double x, double) { return c * x; }), {a}, "tscale",
                       [c](const Tensor& dy) { return std::vector{zipmap(dy, dy, [c](double g, double) { return c * g; })}; });
}

Tensor vec(std::vector<double> v) { return Tensor::from_vector(v); }

}  // namespace

TEST_CASE("engine: diamond y = a*b + a") {
    Variable a(vec({2, -3}), true), b(vec({5, 7}), true);
    Variable y = tadd(tmul(a, b), a);
    y.backward(vec({1, 1}));
    CHECK(a.grad().to_vector<double>() == std::vector<double>{6, 8});   // b + 1
    CHECK(b.grad().to_vector<double>() == std::vector<double>{2, -3});  // a
}

TEST_CASE("engine: the same variable used twice (a + a) and a shared gradient buffer") {
    Variable a(vec({1, 2, 3}), true);
    Variable y = tadd(a, a);
    y.backward(vec({1, 10, 100}));
    CHECK(a.grad().to_vector<double>() == std::vector<double>{2, 20, 200});
    // tadd returns dy for both inputs; summing them must not alias: z = (x + x) * x, dz/dx = 4x.
    Variable x(vec({3}), true);
    Variable s = tadd(x, x);
    tmul(s, x).backward();
    CHECK(x.grad().item() == 12.0);
}

TEST_CASE("engine: every node's backward runs exactly once") {
    Variable a(vec({1}), true);
    Variable h = tadd(a, a);
    Variable y = h;
    for (int i = 0; i < 10; ++i) y = tadd(y, h);  // h feeds 11 consumers
    g_backward_calls = 0;
    y.backward();
    CHECK(g_backward_calls == 11);  // ten chain nodes plus h itself, each once
    CHECK(a.grad().item() == 22.0);
}

TEST_CASE("engine: a 1e5-node chain neither recurses in backward nor in destruction") {
    Variable x(vec({1.0}), true);
    {
        Variable y = x;
        for (int i = 0; i < 100000; ++i) y = tscale(y, 1.0);
        y.backward();
    }
    CHECK(x.grad().item() == 1.0);
    {
        // A chain that is never run backward is destroyed iteratively too.
        Variable y = x;
        for (int i = 0; i < 100000; ++i) y = tscale(y, 1.0);
    }
}

TEST_CASE("engine: leaf gradients accumulate across backward calls until zero_grad") {
    Variable a(vec({1, 2}), true);
    tscale(a, 3.0).backward(vec({1, 1}));
    tscale(a, 3.0).backward(vec({1, 2}));
    CHECK(a.grad().to_vector<double>() == std::vector<double>{6, 9});
    a.zero_grad();
    CHECK(!a.grad().defined());
    tscale(a, 2.0).backward(vec({1, 1}));
    CHECK(a.grad().to_vector<double>() == std::vector<double>{2, 2});
}

TEST_CASE("engine: the engine adds exactly once into a sentinel-seeded gradient") {
    // Seed the leaf gradient with a sentinel: after one backward it must be sentinel + gradient,
    // showing the engine adds (and adds once) while op backward functions only assign.
    Variable a(vec({1, 2}), true);
    a.set_grad(vec({9, 9}));
    tadd(tmul(a, a), a).backward(vec({1, 1}));  // d/da (a^2 + a) = 2a + 1
    CHECK(a.grad().to_vector<double>() == std::vector<double>{9 + 3, 9 + 5});
}

TEST_CASE("engine: leaf gradients do not alias the seed or each other") {
    Variable a(vec({1, 2}), true), b(vec({3, 4}), true);
    Tensor seed = vec({1, 1});
    tadd(a, b).backward(seed);
    CHECK(!a.grad().shares_storage(b.grad()));
    CHECK(!a.grad().shares_storage(seed));
    a.grad().data<double>()[0] = 100;  // an optimizer writing into one gradient
    CHECK(b.grad().at({0}) == 1.0);
    CHECK(seed.at({0}) == 1.0);
}

TEST_CASE("engine: a private first gradient is kept without a copy / a shared one is copied") {
    // tscale's backward returns a fresh tensor nothing else holds: .grad takes it as it is.
    Variable a(vec({1, 2}), true);
    tscale(a, 3.0).backward(vec({1, 1}));
    CHECK(a.grad().to_vector<double>() == std::vector<double>{3, 3});
    // A hook on the leaf keeps a handle on its gradient: .grad must not share it.
    Variable b(vec({1, 2}), true);
    Tensor kept;
    const double* seen = nullptr;
    b.register_hook([&](const Tensor& g) {
        kept = g;
        seen = g.data<double>();
        return Tensor();
    });
    tscale(b, 2.0).backward(vec({1, 1}));
    REQUIRE(kept.defined());
    CHECK(b.grad().data<double>() != seen);
    b.grad().data<double>()[0] = 100;  // an optimizer writing into the gradient
    CHECK(kept.at({0}) == 2.0);
    // A view of a larger buffer is copied (keeping it would hold the whole buffer).
    Variable c(vec({1, 2}), true);
    make_result(c.value().clone(), {c}, "take_view", [](const Tensor&) {
        return std::vector{vec({7, 8, 9}).narrow(0, 1, 2)};
    }).backward(vec({1, 1}));
    CHECK(c.grad().to_vector<double>() == std::vector<double>{8, 9});
    CHECK(c.grad().storage()->bytes() == 2 * sizeof(double));
}

TEST_CASE("engine: NoGradGuard records nothing") {
    Variable a(vec({1}), true);
    {
        NoGradGuard guard;
        CHECK(!grad_enabled());
        Variable y = tscale(a, 2.0);
        CHECK(!y.requires_grad());
        CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("does not require grad"), gs::Error);
    }
    CHECK(grad_enabled());
    CHECK(tscale(a, 2.0).requires_grad());
    Variable c(vec({1}), false);
    CHECK(!tscale(c, 2.0).requires_grad());
}

TEST_CASE("engine: graphs are released after backward unless retained") {
    Variable a(vec({2}), true);
    Variable y = tmul(a, a);
    y.backward({}, /*retain_graph=*/true);
    y.backward();
    CHECK(a.grad().item() == 8.0);
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("already released"), gs::Error);
    // The saved tensors are gone: the closure was dropped.
    CHECK(!y.node()->backward);
}

TEST_CASE("engine: functional grad leaves .grad alone and handles unused inputs") {
    Variable a(vec({1, 2}), true), b(vec({3, 4}), true), unused(vec({0}), true);
    Variable y = tmul(a, b);
    auto g = grad({y}, {a, unused, b}, {vec({1, 1})});
    CHECK(g[0].to_vector<double>() == std::vector<double>{3, 4});
    CHECK(g[1].to_vector<double>() == std::vector<double>{0});
    CHECK(g[2].to_vector<double>() == std::vector<double>{1, 2});
    CHECK(!a.grad().defined());
    // Gradient with respect to an intermediate result.
    Variable h = tscale(a, 2.0);
    Variable z = tmul(h, h);
    auto gh = grad({z}, {h}, {vec({1, 1})});
    CHECK(gh[0].to_vector<double>() == std::vector<double>{4, 8});  // 2h
}

TEST_CASE("engine: functional grad runs only what leads to its inputs and releases nothing else") {
    Variable x(vec({1, 2}), true);
    Variable h = tscale(x, 3.0);
    g_backward_calls = 0;
    auto g = grad({tmul(h, h)}, {h}, {vec({1, 1})});
    CHECK(g_backward_calls == 1);  // tmul only: tscale lies beyond the requested input
    CHECK(g[0].to_vector<double>() == std::vector<double>{6, 12});
    // h's own graph is untouched and still usable.
    tmul(h, h).backward(vec({1, 1}));
    CHECK(x.grad().to_vector<double>() == std::vector<double>{18, 36});  // 2 * 3 * h
}

TEST_CASE("engine: functional grad results never alias each other or the seed") {
    Variable a(vec({1, 2}), true), b(vec({3, 4}), true);
    Tensor seed = vec({1, 1});
    auto g = grad({tadd(a, b)}, {a, b, a}, {seed});
    CHECK(!g[0].shares_storage(g[1]));
    CHECK(!g[0].shares_storage(seed));
    CHECK(!g[0].shares_storage(g[2]));
    g[0].fill_(0);
    CHECK(g[1].to_vector<double>() == std::vector<double>{1, 1});
    CHECK(g[2].to_vector<double>() == std::vector<double>{1, 1});
    CHECK(seed.to_vector<double>() == std::vector<double>{1, 1});
}

TEST_CASE("engine: an exception during backward leaves no partial sums behind") {
    Variable x(vec({1}), true);
    Variable y = tscale(x, 2.0);
    Variable left = tscale(y, 3.0), right = tscale(y, 5.0);
    bool fail = true;
    right.register_hook([&](const Tensor& g) {
        if (fail) {
            fail = false;
            throw std::runtime_error("hook failed");
        }
        return g;
    });
    Variable loss = tadd(left, right);
    CHECK_THROWS_AS(loss.backward({}, true), std::runtime_error);
    loss.backward({}, true);
    CHECK(x.grad().item() == 16.0);  // 2 * (3 + 5), with nothing left over from the failed pass
}

TEST_CASE("engine: set_grad copies and checks its tensor") {
    Variable a(vec({1, 2}), true);
    Tensor mine = vec({5, 5});
    a.set_grad(mine);
    tscale(a, 1.0).backward(vec({1, 1}));
    CHECK(a.grad().to_vector<double>() == std::vector<double>{6, 6});
    CHECK(mine.to_vector<double>() == std::vector<double>{5, 5});
    CHECK_THROWS_WITH_AS(a.set_grad(Tensor::zeros({2}, DType::f32)), doctest::Contains("[2] f32 cpu for a value [2] f64"),
                         gs::Error);
}

TEST_CASE("engine: several outputs in one pass") {
    Variable a(vec({1, 2}), true);
    backward({tscale(a, 2.0), tscale(a, 3.0)}, {vec({1, 1}), vec({1, 0})});
    CHECK(a.grad().to_vector<double>() == std::vector<double>{5, 2});
}

TEST_CASE("engine: hooks see and may replace gradients") {
    Variable a(vec({1, 2}), true);
    Variable h = tscale(a, 2.0);
    Tensor seen;
    h.register_hook([&](const Tensor& g) {
        seen = g;
        return Tensor();  // keep
    });
    a.register_hook([](const Tensor& g) { return zipmap(g, g, [](double x, double) { return 10 * x; }); });
    tscale(h, 3.0).backward(vec({1, 1}));
    CHECK(seen.to_vector<double>() == std::vector<double>{3, 3});
    CHECK(a.grad().to_vector<double>() == std::vector<double>{60, 60});
    CHECK_THROWS_WITH_AS(Variable(vec({1})).register_hook([](const Tensor& g) { return g; }),
                         doctest::Contains("does not require grad"), gs::Error);
}

TEST_CASE("engine: custom function as a straight-through estimator") {
    // Forward: sign(x). Backward: pass the gradient through unchanged.
    auto ste_sign = [](const Variable& x) {
        Tensor y = zipmap(x.value(), x.value(), [](double v, double) { return double((v > 0) - (v < 0)); });
        return make_result(y, {x}, "ste_sign", [](const Tensor& dy) { return std::vector{dy}; });
    };
    Variable x(vec({-0.5, 0.25, 2.0}), true);
    Variable y = ste_sign(x);
    CHECK(y.value().to_vector<double>() == std::vector<double>{-1, 1, 1});
    tmul(y, y).backward(vec({1, 1, 1}));
    CHECK(x.grad().to_vector<double>() == std::vector<double>{-2, 2, 2});
}

TEST_CASE("engine: wrong gradients from a backward are reported with the op name") {
    Variable a(vec({1, 2}), true);
    Variable bad = make_result(a.value().clone(), {a}, "bad_op", [](const Tensor&) { return std::vector{vec({1, 2, 3})}; });
    CHECK_THROWS_WITH_AS(bad.backward(vec({1, 1})), doctest::Contains("backward of 'bad_op' returned a gradient [3]"),
                         gs::Error);
    Variable y = tscale(a, 1.0);
    CHECK_THROWS_WITH_AS(y.backward(), doctest::Contains("needs an explicit seed"), gs::Error);
    CHECK_THROWS_WITH_AS(y.backward(vec({1})), doctest::Contains("does not match the output"), gs::Error);
    CHECK_THROWS_WITH_AS(Variable(Tensor::zeros({2}, DType::i64), true), doctest::Contains("only f32/f64"), gs::Error);
    CHECK_THROWS_WITH_AS(y.set_requires_grad(false), doctest::Contains("only leaves"), gs::Error);
}

TEST_CASE("gradcheck: catches a wrong backward and reports the worst element") {
    auto wrong = [](const std::vector<Variable>& in) {
        const Variable& x = in[0];
        Tensor y = zipmap(x.value(), x.value(), [](double v, double) { return v * v; });
        Tensor xv = x.value();
        return make_result(y, {x}, "square_wrong", [xv](const Tensor& dy) {
            Tensor dx = zipmap(dy, xv, [](double g, double v) { return 2 * g * v; });
            dx.data<double>()[4] *= 1.01;  // one wrong element
            return std::vector{dx};
        });
    };
    const auto r = gradcheck("square_wrong", wrong, {test::randn64({2, 3}, 1)});
    CHECK(!r.ok);
    CHECK(r.message.find("index [1, 1]") != std::string::npos);
    CHECK(r.message.find("square_wrong") != std::string::npos);
    auto right = [](const std::vector<Variable>& in) { return tmul(in[0], in[0]); };
    test::check_grad("square", right, {test::randn64({2, 3}, 1)});
}

TEST_CASE("gradcheck: shape ops") {
    using V = std::vector<Variable>;
    const Tensor x = test::randn64({2, 3, 4}, 3);
    test::check_grad("reshape", [](const V& v) { return reshape(v[0], {4, -1}); }, {x});
    test::check_grad("flatten", [](const V& v) { return flatten(v[0], 1); }, {x});
    test::check_grad("permute", [](const V& v) { return permute(v[0], {2, 0, 1}); }, {x});
    test::check_grad("transpose", [](const V& v) { return transpose(v[0], 0, 2); }, {x});
    test::check_grad("slice", [](const V& v) { return slice(v[0], 2, 1, 4, 2); }, {x});
    test::check_grad("narrow", [](const V& v) { return narrow(v[0], 1, 1, 2); }, {x});
    test::check_grad("select", [](const V& v) { return select(v[0], 0, -1); }, {x});
    test::check_grad("unsqueeze+squeeze", [](const V& v) { return squeeze(unsqueeze(v[0], 1), 1); }, {x});
    test::check_grad("expand", [](const V& v) { return expand(v[0], {3, 2, -1, 4}); }, {test::randn64({2, 1, 4}, 6)});
    test::check_grad("contiguous of a view", [](const V& v) { return contiguous(transpose(v[0], 1, 2)); }, {x});
    test::check_grad("concat", [](const V& v) { return concat({v[0], v[1], v[0]}, 1); },
                     {x, test::randn64({2, 1, 4}, 4)});
    test::check_grad("stack", [](const V& v) { return stack({v[0], v[1]}, 3); }, {x, test::randn64({2, 3, 4}, 5)});
    // A view used twice: gradients from both uses add up in the base.
    test::check_grad("two views", [](const V& v) { return tmul(select(v[0], 1, 0), select(v[0], 1, 2)); }, {x});
}
