// Gradient check (f64) of dropout with a fixed mask: each evaluation uses a fresh generator with
// the same (seed, stream, offset), so the function being differentiated does not change.
#include <doctest/doctest.h>

#include "autograd/dropout.h"
#include "test_util.h"

using gs::Tensor;
using gs::autograd::Variable;
using V = std::vector<Variable>;
namespace ag = gs::autograd;

TEST_CASE("gradcheck: dropout") {
    for (double p : {0.0, 0.25, 0.6}) {
        const Tensor x = gs::test::randn64({4, 5}, 9);
        gs::test::check_grad("dropout", [p](const V& in) {
            gs::Generator g(77, 2);
            return ag::dropout(in[0], p, g);
        }, {x});
    }
}

TEST_CASE("dropout is the identity in eval mode and advances the generator in training") {
    const Variable x(gs::test::randn64({3, 3}, 1), true);
    gs::Generator g(5);
    const Variable e = ag::dropout(x, 0.5, g, false);
    CHECK(e.value().shares_storage(x.value()));
    CHECK(g.offset == 0);
    const Variable y = ag::dropout(x, 0.5, g, true);
    CHECK(g.offset == 9);
    CHECK(y.requires_grad());
    CHECK_THROWS_WITH_AS(ag::dropout(x, 1.0, g, false), doctest::Contains("[0, 1)"), gs::Error);
}
