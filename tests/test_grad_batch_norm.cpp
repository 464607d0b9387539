// Gradient checks (f64, central differences, random-weighted projection loss) of batch norm in
// training and eval mode, with and without gamma/beta, on 2-d and 4-d inputs.
#include <doctest/doctest.h>

#include "autograd/batch_norm.h"
#include "autograd/function.h"
#include "autograd/softmax.h"
#include "kernels/batch_norm.h"
#include "test_util.h"

using gs::Shape;
using gs::Tensor;
using gs::autograd::Variable;
using V = std::vector<Variable>;
namespace ag = gs::autograd;

namespace {

struct Variant {
    bool gamma, beta;
    const char* name;
};
const Variant kVariants[] = {{true, true, "affine"}, {false, true, "shift-only"}, {false, false, "no-affine"},
                             {true, false, "scale-only"}};

// Inputs {x, gamma?, beta?} and the positions of gamma and beta in them (-1 when absent).
struct Setup {
    std::vector<Tensor> inputs;
    int gi = -1, bi = -1;
};

Setup make_setup(const Shape& shape, const Variant& v, std::uint64_t seed) {
    Setup s;
    const std::int64_t C = shape[1];
    s.inputs.push_back(gs::test::randn64(shape, seed));
    if (v.gamma) {
        s.gi = int(s.inputs.size());
        s.inputs.push_back(gs::test::randn64({C}, seed + 1));
    }
    if (v.beta) {
        s.bi = int(s.inputs.size());
        s.inputs.push_back(gs::test::randn64({C}, seed + 2));
    }
    return s;
}

Variable pick(const V& in, int i) { return i < 0 ? Variable() : in[std::size_t(i)]; }

const Shape kShapes[] = {{4, 3}, {7, 2}, {2, 3, 2, 3}, {1, 2, 3, 3}};

}  // namespace

TEST_CASE("gradcheck: batch_norm_train / every affine variant / 2-d and 4-d") {
    for (const Shape& shape : kShapes)
        for (const Variant& v : kVariants) {
            const Setup s = make_setup(shape, v, 11);
            const std::string name = std::string("batch_norm_train ") + v.name + " " + gs::shape_str(shape);
            gs::test::check_grad(name, [&](const V& in) {
                return ag::batch_norm_train(in[0], pick(in, s.gi), pick(in, s.bi), 1e-3).y;
            }, s.inputs);
        }
}

TEST_CASE("gradcheck: batch_norm_train with only some inputs requiring grad") {
    const Setup s = make_setup({3, 2, 2, 2}, kVariants[0], 21);
    for (std::vector<std::size_t> wrt : {std::vector<std::size_t>{0}, {1}, {2}, {1, 2}}) {
        gs::autograd::GradcheckOptions opt;
        opt.wrt = wrt;
        gs::test::check_grad("batch_norm_train partial", [&](const V& in) {
            return ag::batch_norm_train(in[0], in[1], in[2], 1e-3).y;
        }, s.inputs, opt);
    }
}

TEST_CASE("gradcheck: batch_norm_eval treats the running statistics as constants") {
    for (const Shape& shape : kShapes)
        for (const Variant& v : kVariants) {
            const Setup s = make_setup(shape, v, 31);
            const Tensor rm = gs::test::randn64({shape[1]}, 40);
            gs::Generator g(41);
            const Tensor rv = gs::uniform({shape[1]}, g, 0.5, 2.0, gs::DType::f64);
            const std::string name = std::string("batch_norm_eval ") + v.name + " " + gs::shape_str(shape);
            gs::test::check_grad(name, [&](const V& in) {
                return ag::batch_norm_eval(in[0], rm, rv, pick(in, s.gi), pick(in, s.bi), 1e-5);
            }, s.inputs);
        }
}

TEST_CASE("gradcheck: log_softmax of a batch-normed input (composition)") {
    const Setup s = make_setup({5, 4}, kVariants[0], 51);
    gs::test::check_grad("log_softmax(batch_norm_train)", [&](const V& in) {
        return ag::log_softmax(ag::batch_norm_train(in[0], in[1], in[2], 1e-5).y, 1);
    }, s.inputs);
}

TEST_CASE("batch_norm_train returns the batch statistics and records nothing without grad") {
    const Tensor x = gs::test::randn64({6, 3, 2, 2}, 61);
    const auto out = ag::batch_norm_train(Variable(x, true), Variable(), Variable(), 1e-5);
    const auto ref = gs::kernels::batch_norm_forward_train(x, Tensor(), Tensor(), 1e-5);
    CHECK(gs::test::max_abs_diff(out.mean, ref.mean) == 0.0);
    CHECK(gs::test::max_abs_diff(out.var, ref.var) == 0.0);
    CHECK(out.y.requires_grad());
    {
        gs::autograd::NoGradGuard no_grad;
        CHECK_FALSE(ag::batch_norm_train(Variable(x, true), Variable(), Variable(), 1e-5).y.requires_grad());
    }
    CHECK_FALSE(ag::batch_norm_train(Variable(x, false), Variable(), Variable(), 1e-5).y.requires_grad());
}
