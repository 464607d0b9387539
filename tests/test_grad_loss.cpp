// Gradient checks (f64) of the per-example losses. The projection weights make each example's
// loss count with its own random weight, so per-example gradients are checked, not just a sum.
#include <doctest/doctest.h>

#include "autograd/loss.h"
#include "test_util.h"

using gs::Shape;
using gs::Tensor;
using gs::autograd::Variable;
using V = std::vector<Variable>;
namespace ag = gs::autograd;
using gs::test::labels_for;

TEST_CASE("gradcheck: cross_entropy") {
    for (auto [N, C] : {std::pair<std::int64_t, std::int64_t>{1, 3}, {5, 4}, {7, 1}}) {
        const Tensor labels = labels_for(N, C, 1);
        const Tensor x = gs::test::randn64({N, C}, 2);
        gs::test::check_grad("cross_entropy", [&](const V& in) { return ag::cross_entropy(in[0], labels); }, {x});
        CHECK(ag::cross_entropy(Variable(x), labels).shape() == Shape{N});
    }
}

TEST_CASE("gradcheck: multiclass_hinge (away from the kinks)") {
    // Random logits rarely land within eps of a hinge kink; these seeds are checked to stay clear.
    for (double margin : {1.0, 0.3}) {
        const Tensor labels = labels_for(6, 4, 3);
        const Tensor x = gs::test::randn64({6, 4}, 4);
        gs::test::check_grad("multiclass_hinge", [&](const V& in) { return ag::multiclass_hinge(in[0], labels, margin); },
                             {x});
    }
}

TEST_CASE("gradcheck: binary_hinge on (N) and (N / 1) logits") {
    const Tensor t = gs::test::pm1<double>(8, 5);
    // Scale 2 puts many examples outside the margin (zero gradient) and many inside.
    Tensor x = gs::test::randn64({8}, 6);
    gs::test::check_grad("binary_hinge (N)", [&](const V& in) { return ag::binary_hinge(in[0], t); }, {x});
    gs::test::check_grad("binary_hinge (N,1)", [&](const V& in) { return ag::binary_hinge(in[0], t); },
                         {x.reshape({8, 1})});
}

TEST_CASE("gradcheck: mse with respect to input and target") {
    for (const Shape& shape : {Shape{5}, Shape{4, 3}, Shape{2, 3, 2, 2}}) {
        const Tensor x = gs::test::randn64(shape, 7), t = gs::test::randn64(shape, 8);
        gs::test::check_grad("mse " + gs::shape_str(shape), [](const V& in) { return ag::mse(in[0], in[1]); }, {x, t});
        gs::autograd::GradcheckOptions only_input;
        only_input.wrt = {0};
        gs::test::check_grad("mse input only", [](const V& in) { return ag::mse(in[0], in[1]); }, {x, t}, only_input);
    }
}
