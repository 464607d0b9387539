// Gradient checks (f64 central differences) for autograd::max_pool2d and avg_pool2d.
#include <doctest/doctest.h>

#include "autograd/pool.h"
#include "test_util.h"

using gs::autograd::Variable;
using gs::kernels::Pool2dGeometry;
using V = std::vector<Variable>;

namespace {
Pool2dGeometry geom(std::int64_t k, std::int64_t s, std::int64_t p) {
    Pool2dGeometry g;
    g.kernel_h = g.kernel_w = k;
    g.stride_h = g.stride_w = s;
    g.pad_h = g.pad_w = p;
    return g;
}

// Distinct values 0.1 apart in shuffled order: no two entries of a window are within the
// finite-difference step (1e-6) of each other, so the max is differentiable at every point.
gs::Tensor separated(const gs::Shape& shape, std::uint64_t seed) {
    gs::Generator gen(seed);
    gs::Tensor perm = gs::randperm(gs::numel(shape), gen).to(gs::DType::f64);
    std::vector<double> v = perm.to_vector<double>();
    for (double& x : v) x = 0.1 * x - 1.0;
    return gs::Tensor::from_vector(v, shape);
}
}  // namespace

TEST_CASE("gradcheck: max_pool2d") {
    const Pool2dGeometry gs_[] = {geom(2, 2, 0), geom(3, 2, 1), geom(3, 1, 1), geom(2, 1, 0)};
    std::uint64_t seed = 1;
    for (const Pool2dGeometry& g : gs_) {
        auto f = [g](const V& v) { return gs::autograd::max_pool2d(v[0], g); };
        CAPTURE(g.str());
        gs::test::check_grad("max_pool2d " + g.str(), f, {separated({2, 3, 5, 6}, seed++)});
    }
}

TEST_CASE("gradcheck: avg_pool2d with and without counting padding") {
    const Pool2dGeometry gs_[] = {geom(2, 2, 0), geom(3, 2, 1), geom(3, 1, 1)};
    for (bool include_pad : {true, false})
        for (const Pool2dGeometry& g : gs_) {
            auto f = [g, include_pad](const V& v) { return gs::autograd::avg_pool2d(v[0], g, include_pad); };
            CAPTURE(g.str());
            gs::test::check_grad("avg_pool2d " + g.str(), f, {gs::test::randn64({2, 3, 5, 6}, 7)});
        }
}
