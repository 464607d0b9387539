// Gradient checks (f64 central differences) for autograd::conv2d: x, w and b, across stride,
// padding, dilation and groups.
#include <doctest/doctest.h>

#include "autograd/conv2d.h"
#include "test_util.h"

using gs::autograd::Variable;
using gs::kernels::Conv2dGeometry;
using V = std::vector<Variable>;

namespace {
Conv2dGeometry geom(std::int64_t stride, std::int64_t pad, std::int64_t dil, std::int64_t groups) {
    Conv2dGeometry g;
    g.stride_h = g.stride_w = stride;
    g.pad_h = g.pad_w = pad;
    g.dil_h = g.dil_w = dil;
    g.groups = groups;
    return g;
}
}  // namespace

TEST_CASE("gradcheck: conv2d x / w and b across geometries") {
    struct Case {
        const char* name;
        Conv2dGeometry g;
    };
    const Case cases[] = {
        {"conv2d plain", geom(1, 0, 1, 1)},     {"conv2d stride 2", geom(2, 0, 1, 1)},
        {"conv2d padding 1", geom(1, 1, 1, 1)}, {"conv2d dilation 2", geom(1, 0, 2, 1)},
        {"conv2d groups 2", geom(1, 1, 1, 2)},  {"conv2d all at once", geom(2, 1, 2, 2)},
    };
    // N=2, C=4, H=W=5, K=4, R=S=3 (the blueprint's sizes).
    for (const Case& c : cases) {
        CAPTURE(c.name);
        const Conv2dGeometry g = c.g;
        auto f = [g](const V& v) { return gs::autograd::conv2d(v[0], v[1], v[2], g); };
        gs::test::check_grad(c.name, f,
                             {gs::test::randn64({2, 4, 5, 5}, 1), gs::test::randn64({4, 4 / g.groups, 3, 3}, 2),
                              gs::test::randn64({4}, 3)});
    }
}

TEST_CASE("gradcheck: conv2d without bias / non-square / and partial requires_grad") {
    const Conv2dGeometry g = geom(1, 1, 1, 1);
    auto no_bias = [g](const V& v) { return gs::autograd::conv2d(v[0], v[1], Variable(), g); };
    gs::test::check_grad("conv2d no bias", no_bias, {gs::test::randn64({2, 3, 5, 4}, 4), gs::test::randn64({2, 3, 3, 2}, 5)});
    // Depthwise.
    auto dw = [](const V& v) { return gs::autograd::conv2d(v[0], v[1], v[2], geom(1, 1, 1, 3)); };
    gs::test::check_grad("conv2d depthwise", dw,
                         {gs::test::randn64({2, 3, 4, 4}, 6), gs::test::randn64({3, 1, 3, 3}, 7), gs::test::randn64({3}, 8)});
    gs::autograd::GradcheckOptions only_w;
    only_w.wrt = {1};
    auto f = [g](const V& v) { return gs::autograd::conv2d(v[0], v[1], v[2], g); };
    gs::test::check_grad("conv2d wrt w only", f,
                         {gs::test::randn64({2, 4, 5, 5}, 9), gs::test::randn64({4, 4, 3, 3}, 10), gs::test::randn64({4}, 11)},
                         only_w);
    // Only x requires grad: the backward returns no dw/db.
    Variable x(gs::test::randn64({1, 2, 4, 4}, 12), true), w(gs::test::randn64({3, 2, 3, 3}, 13)),
        b(gs::test::randn64({3}, 14));
    Variable y = gs::autograd::conv2d(x, w, b, g);
    y.backward(gs::Tensor::ones(y.shape(), gs::DType::f64));
    CHECK(x.grad().shape() == x.shape());
    CHECK(!w.grad().defined());
    CHECK(!b.grad().defined());
}
