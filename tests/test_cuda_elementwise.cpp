// CUDA elementwise kernels against the CPU on the same random inputs: every UnaryOp, BinaryOp and
// CompareOp, forward and backward, with strided and broadcast operands. Skipped without a GPU.
#include <doctest/doctest.h>

#include "cuda_test_util.h"
#include "kernels/elementwise.h"
#include "nn/layers.h"
#include "test_util.h"

namespace k = gs::kernels;
using gs::DType;
using gs::Tensor;
using gs::test::check_close;
using gs::test::check_equal;
using gs::test::gpu;

namespace {
// One tensor on both devices.
struct Pair {
    Tensor cpu, gpu;
};
Pair both(const Tensor& t) { return {t, t.to(gpu())}; }
// The same view of both (after the transfer, so the CUDA kernels see the strides).
template <class F>
Pair view(const Pair& p, F f) {
    return {f(p.cpu), f(p.gpu)};
}

// Elementwise results may differ from the CPU's only by the device's libm (exp, log, tanh, pow):
// a few ulp, far below this bound for either dtype.
template <class T>
double rtol() {
    return std::is_same_v<T, float> ? 2e-6 : 1e-14;
}
}  // namespace

TEST_CASE_TEMPLATE("cuda elementwise: unary ops and their backward match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(1);
    // Positive inputs for log/sqrt; a transposed view exercises the strided path.
    const Pair x = view(both(gs::uniform({33, 7}, g, 0.1, 3.0, gs::dtype_of<T>())), [](const Tensor& t) { return t.t(); });
    const Pair s = both(gs::uniform({129}, g, -3.0, 3.0, gs::dtype_of<T>()));
    const Pair dy = both(gs::uniform({7, 33}, g, -1.0, 1.0, gs::dtype_of<T>()));
    for (k::UnaryOp op : {k::UnaryOp::neg, k::UnaryOp::exp, k::UnaryOp::log, k::UnaryOp::sqrt, k::UnaryOp::abs,
                          k::UnaryOp::sign, k::UnaryOp::tanh, k::UnaryOp::sigmoid, k::UnaryOp::relu}) {
        const std::string name = k::op_name(op);
        const Tensor yc = k::unary(op, x.cpu), yg = k::unary(op, x.gpu);
        check_close(yg, yc, rtol<T>(), 0, name);
        // Absolute as well: tanh's and sigmoid's backward subtract from 1 (1 - y^2, 1 - y), so a
        // rounding of y or y^2 (another libm, FMA contraction on the device) is an error of order
        // ulp(1) * |dy| however small the result; |dy| <= 1 here. Seen: tanh's 0.0489883 against
        // the CPU's 0.0489884 on an H100.
        check_close(k::unary_backward(op, x.gpu, yg, dy.gpu), k::unary_backward(op, x.cpu, yc, dy.cpu), rtol<T>(),
                    rtol<T>(), name + "_backward");
        if (op != k::UnaryOp::log && op != k::UnaryOp::sqrt) check_close(k::unary(op, s.gpu), k::unary(op, s.cpu), rtol<T>(), 0, name);
    }
    check_close(k::pow(x.gpu, 2.5), k::pow(x.cpu, 2.5), rtol<T>(), 0, "pow");
    check_close(k::pow_backward(x.gpu, 2.5, dy.gpu), k::pow_backward(x.cpu, 2.5, dy.cpu), rtol<T>(), 0, "pow_backward");
    check_equal(k::clamp(s.gpu, -1, 0.5), k::clamp(s.cpu, -1, 0.5), "clamp");
    check_equal(k::clamp_backward(x.gpu, 0.5, 2, dy.gpu), k::clamp_backward(x.cpu, 0.5, 2, dy.cpu), "clamp_backward");
    check_close(k::affine(x.gpu, -2, 0.25), k::affine(x.cpu, -2, 0.25), rtol<T>(), 0, "affine");
    // NaN propagates on the device too.
    const Tensor nan = Tensor::full({3}, std::nan(""), gs::dtype_of<T>(), gpu());
    for (double v : gs::test::values(k::unary(k::UnaryOp::relu, nan))) CHECK(std::isnan(v));
}

TEST_CASE_TEMPLATE("cuda elementwise: binary ops with broadcasting and their gradients match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(2);
    const DType dt = gs::dtype_of<T>();
    const Pair a = both(gs::uniform({5, 1, 7}, g, 0.5, 2.0, dt));          // broadcast along dim 1
    const Pair b = view(both(gs::uniform({6, 5}, g, 0.5, 2.0, dt)), [](const Tensor& t) { return t.t().unsqueeze(2); });
    const Pair one = both(Tensor::full({}, 1.5, dt));
    const Pair dy = both(gs::uniform({5, 6, 7}, g, -1.0, 1.0, dt));
    for (k::BinaryOp op : {k::BinaryOp::add, k::BinaryOp::sub, k::BinaryOp::mul, k::BinaryOp::div, k::BinaryOp::pow,
                           k::BinaryOp::maximum, k::BinaryOp::minimum}) {
        const std::string name = k::op_name(op);
        const Tensor yc = k::binary(op, a.cpu, b.cpu), yg = k::binary(op, a.gpu, b.gpu);
        check_close(yg, yc, rtol<T>(), 0, name);
        for (int which : {0, 1})
            check_close(k::binary_backward(op, which, a.gpu, b.gpu, yg, dy.gpu),
                        k::binary_backward(op, which, a.cpu, b.cpu, yc, dy.cpu), rtol<T>(), 0,
                        name + "_backward " + std::to_string(which));
        // A 0-d operand takes the flat path with step 0.
        check_close(k::binary(op, a.gpu, one.gpu), k::binary(op, a.cpu, one.cpu), rtol<T>(), 0, name + " with a scalar");
    }
    for (k::CompareOp op : {k::CompareOp::eq, k::CompareOp::ne, k::CompareOp::lt, k::CompareOp::le, k::CompareOp::gt,
                            k::CompareOp::ge})
        check_equal(k::compare(op, a.gpu, b.gpu), k::compare(op, a.cpu, b.cpu), k::op_name(op));
    const Pair c = both(k::compare(k::CompareOp::lt, a.cpu, b.cpu));
    check_equal(k::where(c.gpu, a.gpu, b.gpu), k::where(c.cpu, a.cpu, b.cpu), "where");
    // Integer compare on CUDA.
    const Pair i = both(Tensor::arange(9).reshape({3, 3}));
    check_equal(k::compare(k::CompareOp::ge, i.gpu, i.gpu.t()), k::compare(k::CompareOp::ge, i.cpu, i.cpu.t()), "ge i64");
    // Both operands strided and broadcast: the general (indexer) path.
    check_close(k::binary(k::BinaryOp::mul, b.gpu, a.gpu.slice(2, 0, 7, 3)), k::binary(k::BinaryOp::mul, b.cpu, a.cpu.slice(2, 0, 7, 3)),
                rtol<T>(), 0, "mul of two views");
}

TEST_CASE("cuda elementwise: mixed devices throw naming both and empty tensors work") {
    GS_REQUIRE_GPU();
    const Tensor c = Tensor::ones({3});
    const Tensor d = Tensor::ones({3}, DType::f32, gpu());
    CHECK_THROWS_WITH_AS(k::binary(k::BinaryOp::add, c, d), doctest::Contains("cuda:0"), gs::Error);
    CHECK_THROWS_WITH_AS(k::where(k::compare(k::CompareOp::lt, d, d), c, c), doctest::Contains("cuda:0"), gs::Error);
    CHECK(k::unary(k::UnaryOp::exp, Tensor::zeros({0, 4}, DType::f32, gpu())).shape() == gs::Shape{0, 4});
}

TEST_CASE("cuda increment: i64 counters advance on the device as BatchNorm num_batches_tracked does") {
    GS_REQUIRE_GPU();
    const Tensor c = Tensor::full({}, 41.0, DType::i64, gpu());
    const Tensor bumped = k::increment(c);
    CHECK(bumped.device() == gpu());
    CHECK(bumped.to(gs::Device::cpu()).item<std::int64_t>() == 42);
    CHECK(c.to(gs::Device::cpu()).item<std::int64_t>() == 41);
    const Tensor v = Tensor::from_vector(std::vector<std::int64_t>{-1, 0, std::int64_t(1) << 40});
    check_equal(k::increment(v.to(gpu())), k::increment(v), "increment");
    // The layer's counter stays on the GPU and counts training batches only.
    gs::nn::BatchNorm1d bn(2);
    bn.to(gpu());
    const gs::autograd::Variable x(Tensor::ones({4, 2}, DType::f32, gpu()));
    bn.forward(x);
    bn.forward(x);
    bn.eval();
    bn.forward(x);
    const Tensor tracked = bn.buffer("num_batches_tracked");
    CHECK(tracked.device() == gpu());
    CHECK(tracked.to(gs::Device::cpu()).item<std::int64_t>() == 2);
}
