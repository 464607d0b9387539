// Backward closures capture tensors, never Variables: a recorded graph must not keep its input
// Variables (and through them other graphs) alive.
#include <doctest/doctest.h>

#include "autograd/batch_norm.h"
#include "autograd/conv2d.h"
#include "autograd/elementwise.h"
#include "autograd/linalg.h"
#include "autograd/loss.h"
#include "autograd/pool.h"
#include "autograd/reduce.h"
#include "test_util.h"

using namespace gs;
using namespace gs::autograd;

namespace {

// Builds y from fresh leaves, drops the leaves, and checks no VariableImpl survives in y's graph.
void check_releases_inputs(const char* name, const std::vector<Shape>& shapes,
                           const std::function<Variable(const std::vector<Variable>&)>& f) {
    std::vector<std::weak_ptr<VariableImpl>> weak;
    Variable y;
    {
        std::vector<Variable> in;
        for (std::size_t i = 0; i < shapes.size(); ++i) in.emplace_back(test::randn64(shapes[i], 10 + i), true);
        y = f(in);
        for (const Variable& v : in) weak.push_back(v.impl());
    }
    REQUIRE(y.requires_grad());
    for (std::size_t i = 0; i < weak.size(); ++i) {
        INFO(name, ": input ", i);
        CHECK(weak[i].expired());
    }
}

}  // namespace

TEST_CASE("autograd ops do not keep their input Variables alive") {
    using V = std::vector<Variable>;
    check_releases_inputs("conv2d with bias", {{2, 3, 5, 5}, {4, 3, 3, 3}, {4}},
                          [](const V& v) { return conv2d(v[0], v[1], v[2], kernels::Conv2dGeometry{}); });
    check_releases_inputs("matmul", {{3, 4}, {4, 2}}, [](const V& v) { return matmul(v[0], v[1]); });
    check_releases_inputs("mul", {{3, 4}, {4}}, [](const V& v) { return v[0] * v[1]; });
    check_releases_inputs("max", {{3, 4}}, [](const V& v) { return max(v[0], {1}); });
    check_releases_inputs("batch_norm_train", {{4, 3}, {3}, {3}},
                          [](const V& v) { return batch_norm_train(v[0], v[1], v[2], 1e-5).y; });
    check_releases_inputs("mse", {{4, 3}, {4, 3}}, [](const V& v) { return mse(v[0], v[1]); });
    kernels::Pool2dGeometry pool;
    pool.kernel_h = pool.kernel_w = pool.stride_h = pool.stride_w = 2;
    check_releases_inputs("max_pool2d", {{1, 2, 4, 4}}, [&](const V& v) { return max_pool2d(v[0], pool); });
}

TEST_CASE("gradients of reductions at degenerate points match their forward") {
    // max of a row holding NaN is NaN, and the NaN element takes the gradient (not silently zero).
    Variable x(Tensor::from_vector(std::vector<double>{1, std::nan(""), 2}), true);
    Variable y = max(x);
    CHECK(std::isnan(y.item()));
    y.backward();
    CHECK(x.grad().to_vector<double>()[1] == 1.0);
    // var with n <= correction is inf in the forward, and its gradient is not a finite number.
    Variable z(Tensor::from_vector(std::vector<double>{1, 3}), true);
    Variable v = var(z, {}, 3);
    CHECK(std::isinf(v.item()));
    v.backward();
    CHECK(!std::isfinite(z.grad().to_vector<double>()[0]));
}
