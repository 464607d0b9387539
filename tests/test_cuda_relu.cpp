// cuDNN ReLU (kernels::unary / unary_backward with UnaryOp::relu on CUDA tensors) against the CPU
// path: exact agreement (a ReLU and its gate round nothing), NaN propagation, exact zeros and
// negative zeros, strided inputs, empty tensors; f32 and f64. Skips without a CUDA device.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "cuda_compare.h"
#include "kernels/elementwise.h"
#include "tensor/random.h"

namespace {

using gs::Shape;
using gs::Tensor;
using gs::kernels::UnaryOp;
using gs::test::check_close;
using gs::test::gpu;
using gs::test::randn;

// x of `shape` with normal values plus the special cases planted at the front: NaN, +0, -0, a
// tiny negative and a tiny positive value.
template <class T>
Tensor special(const Shape& shape, std::uint64_t seed) {
    std::vector<T> v = randn<T>(shape, seed).template to_vector<T>();
    const T specials[] = {std::numeric_limits<T>::quiet_NaN(), T(0), -T(0), -std::numeric_limits<T>::denorm_min(),
                          std::numeric_limits<T>::min()};
    for (std::size_t i = 0; i < std::size(specials) && i < v.size(); ++i) v[i] = specials[i];
    return Tensor::from_vector(v, shape);
}

}  // namespace

TEST_CASE_TEMPLATE("cuda relu forward matches the CPU exactly with NaN propagated", T, float, double) {
    GS_REQUIRE_GPU();
    for (const Shape& s : std::vector<Shape>{{1}, {7}, {33, 129}, {2, 3, 5, 7}}) {
        CAPTURE(gs::shape_str(s));
        const Tensor x = special<T>(s, 500 + std::uint64_t(gs::numel(s)));
        const Tensor want = gs::kernels::unary(UnaryOp::relu, x);
        check_close(gs::kernels::unary(UnaryOp::relu, gpu(x)), want, 0, 0, "relu");  // exact: no rounding
    }
    // A strided (transposed) input is read through its view.
    const Tensor x = special<T>({9, 4}, 510);
    check_close(gs::kernels::unary(UnaryOp::relu, gpu(x).t()), gs::kernels::unary(UnaryOp::relu, x.t()), 0, 0,
                    "relu of a transposed view");
    CHECK(gs::kernels::unary(UnaryOp::relu, gpu(Tensor::zeros({0, 3}, gs::dtype_of<T>()))).shape() == Shape{0, 3});
}

TEST_CASE_TEMPLATE("cuda relu backward matches the CPU exactly", T, float, double) {
    GS_REQUIRE_GPU();
    // Gated on the saved output y: dx = y <= 0 ? 0 : dy. NaN is planted in dy where y is 0 (the
    // gate must give 0, not NaN * 0) and where y > 0 (NaN passes). A NaN y is left out: the
    // contract only says NaN forward outputs stay NaN.
    const Shape s{17, 33};
    std::vector<T> xv = randn<T>(s, 520).template to_vector<T>();
    xv[0] = T(-1);
    xv[1] = T(2);
    const Tensor y = gs::kernels::unary(UnaryOp::relu, Tensor::from_vector(xv, s));
    std::vector<T> dyv = randn<T>(s, 521).template to_vector<T>();
    dyv[0] = dyv[1] = std::numeric_limits<T>::quiet_NaN();
    const Tensor dy = Tensor::from_vector(dyv, s);
    const Tensor want = gs::kernels::unary_backward(UnaryOp::relu, Tensor(), y, dy);
    check_close(gs::kernels::unary_backward(UnaryOp::relu, Tensor(), gpu(y), gpu(dy)), want, 0, 0, "relu backward");
}
