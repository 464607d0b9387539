// Gradient checks (f64) of softmax and log-softmax along every dim.
#include <doctest/doctest.h>

#include "autograd/softmax.h"
#include "test_util.h"

using gs::Shape;
using gs::autograd::Variable;
using V = std::vector<Variable>;
namespace ag = gs::autograd;

TEST_CASE("gradcheck: softmax and log_softmax along every dim") {
    for (const Shape& shape : {Shape{5}, Shape{3, 4}, Shape{2, 3, 4}})
        for (std::int64_t dim = -1; dim < std::int64_t(shape.size()); ++dim) {
            const auto x = gs::test::randn64(shape, 3);
            const std::string where = gs::shape_str(shape) + " dim " + std::to_string(dim);
            gs::test::check_grad("softmax " + where, [dim](const V& in) { return ag::softmax(in[0], dim); }, {x});
            gs::test::check_grad("log_softmax " + where, [dim](const V& in) { return ag::log_softmax(in[0], dim); },
                                 {x});
        }
}
