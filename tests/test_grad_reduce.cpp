// Gradchecks (f64) of the reduction autograd ops over several axis sets, with and without keepdim,
// plus the documented tie rule of max/min (even split).
#include <doctest/doctest.h>

#include "autograd/reduce.h"
#include "autograd/shape.h"
#include "test_util.h"

using namespace gs;
using namespace gs::autograd;
using V = std::vector<Variable>;

TEST_CASE("gradcheck: sum / mean / var / max / min over axis sets") {
    // Normal draws are distinct with probability 1 and their gaps here far exceed eps = 1e-6, so
    // max/min do not switch elements under the finite-difference perturbation.
    const Tensor x = test::randn64({3, 4, 5}, 31);
    const std::vector<std::vector<std::int64_t>> axes_sets = {{}, {0}, {1}, {-1}, {0, 2}, {1, 2}};
    for (const auto& axes : axes_sets) {
        for (bool keepdim : {false, true}) {
            const std::string tag = " axes#" + std::to_string(axes.size()) + (axes.empty() ? "" : std::to_string(axes[0])) +
                                    (keepdim ? " keepdim" : "");
            test::check_grad("sum" + tag, [&](const V& v) { return sum(v[0], axes, keepdim); }, {x});
            test::check_grad("mean" + tag, [&](const V& v) { return mean(v[0], axes, keepdim); }, {x});
            test::check_grad("var" + tag, [&](const V& v) { return var(v[0], axes, 1, keepdim); }, {x});
            test::check_grad("var0" + tag, [&](const V& v) { return var(v[0], axes, 0, keepdim); }, {x});
            test::check_grad("max" + tag, [&](const V& v) { return max(v[0], axes, keepdim); }, {x});
            test::check_grad("min" + tag, [&](const V& v) { return min(v[0], axes, keepdim); }, {x});
        }
    }
    // A strided input (the reduction takes the permuted-copy path).
    test::check_grad("sum of a transposed view", [](const V& v) { return sum(transpose(v[0], 0, 2), {0, 2}); }, {x});
    test::check_grad("var of a transposed view", [](const V& v) { return var(transpose(v[0], 0, 2), {1}); }, {x});
}

TEST_CASE("max/min split the gradient evenly among ties") {
    Variable x(Tensor::from_vector<double>({3, 1, 3, 2, 0, 0}, {2, 3}), true);
    max(x, {1}).backward(Tensor::from_vector<double>({1.0, 4.0}));
    CHECK(x.grad().to_vector<double>() == std::vector<double>{0.5, 0, 0.5, 4, 0, 0});
    x.zero_grad();
    min(x, {1}).backward(Tensor::from_vector<double>({1.0, 4.0}));
    CHECK(x.grad().to_vector<double>() == std::vector<double>{0, 1, 0, 0, 2, 2});
    x.zero_grad();
    sum(x).backward();
    CHECK(x.grad().to_vector<double>() == std::vector<double>(6, 1.0));
}
