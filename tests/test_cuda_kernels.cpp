// CUDA reductions, softmax, losses, optimizer steps, dropout and local response normalization
// against the CPU on the same random inputs. Skipped without a GPU.
#include <doctest/doctest.h>

#include "cuda_compare.h"
#include "cuda_test_util.h"
#include "kernels/adam.h"
#include "kernels/dropout.h"
#include "kernels/local_response_norm.h"
#include "kernels/loss.h"
#include "kernels/reduce.h"
#include "kernels/sgd.h"
#include "kernels/softmax.h"
#include "test_util.h"

namespace k = gs::kernels;
using gs::DType;
using gs::Tensor;
using gs::test::check_close;
using gs::test::check_equal;
using gs::test::gpu;

namespace {
struct Pair {
    Tensor cpu, gpu;
};
Pair both(const Tensor& t) { return {t, t.to(gpu())}; }

// Sums accumulate in double on both devices but in a different order (a 256-way tree on CUDA):
// the results differ by the final rounding to T plus ~1e-16 relative of the double sums.
template <class T>
double sum_rtol() {
    return std::is_same_v<T, float> ? 1e-6 : 1e-12;
}
// exp/log on the device may differ from glibc by an ulp or two.
template <class T>
double math_rtol() {
    return std::is_same_v<T, float> ? 1e-5 : 1e-12;
}
}  // namespace

TEST_CASE_TEMPLATE("cuda reduce: sum mean var max min argmax argmin over axes match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(5);
    const DType dt = gs::dtype_of<T>();
    const Pair base = both(gs::normal({5, 7, 33}, g, 0.0, 1.0, dt));
    const Pair big = both(gs::normal({3, 100003}, g, 0.0, 1.0, dt));
    const std::vector<std::vector<std::int64_t>> axes_list = {{}, {0}, {1}, {2}, {0, 2}, {1, 2}, {-1}};
    for (const auto& axes : axes_list) {
        for (bool keepdim : {false, true}) {
            const std::string where = "axes of size " + std::to_string(axes.size()) + (keepdim ? " keepdim" : "");
            check_close(k::sum(base.gpu, axes, keepdim), k::sum(base.cpu, axes, keepdim), sum_rtol<T>(), 1e-12, "sum " + where);
            check_close(k::mean(base.gpu, axes, keepdim), k::mean(base.cpu, axes, keepdim), sum_rtol<T>(), 1e-12, "mean " + where);
            check_close(k::var(base.gpu, axes, 1, keepdim), k::var(base.cpu, axes, 1, keepdim), sum_rtol<T>(), 1e-12, "var " + where);
            check_equal(k::max(base.gpu, axes, keepdim), k::max(base.cpu, axes, keepdim), "max " + where);
            check_equal(k::min(base.gpu, axes, keepdim), k::min(base.cpu, axes, keepdim), "min " + where);
        }
    }
    for (std::int64_t d : {0, 1, 2}) {
        check_equal(k::argmax(base.gpu, d), k::argmax(base.cpu, d), "argmax");
        check_equal(k::argmin(base.gpu, d, true), k::argmin(base.cpu, d, true), "argmin");
    }
    // Long rows (block per output) and a strided input (permuted copy first).
    check_close(k::sum(big.gpu, {1}), k::sum(big.cpu, {1}), sum_rtol<T>(), 1e-12, "sum of long rows");
    check_close(k::sum(big.gpu), k::sum(big.cpu), sum_rtol<T>(), 1e-12, "sum of everything");
    check_close(k::mean(base.gpu.permute({2, 0, 1}), {1}), k::mean(base.cpu.permute({2, 0, 1}), {1}), sum_rtol<T>(), 1e-12,
                "mean of a permuted view");
    check_close(k::sum_to(base.gpu, {7, 1}), k::sum_to(base.cpu, {7, 1}), sum_rtol<T>(), 1e-12, "sum_to");
    // The same call gives the same bits twice (no atomics).
    check_equal(k::sum(big.gpu), k::sum(big.gpu).to(gs::Device::cpu()), "sum is deterministic");
    // Empty extents: sum 0, mean NaN; max of nothing throws.
    const Pair empty = both(Tensor::zeros({3, 0}, dt));
    check_equal(k::sum(empty.gpu, {1}), k::sum(empty.cpu, {1}), "sum of an empty extent");
    check_equal(k::mean(empty.gpu, {1}), k::mean(empty.cpu, {1}), "mean of an empty extent");
    CHECK_THROWS_WITH_AS(k::max(empty.gpu, {1}), doctest::Contains("cannot reduce an empty extent"), gs::Error);
    // NaN propagates through max and wins argmax (the first NaN), as on the CPU.
    Tensor nan_row = Tensor::from_vector(std::vector<T>{1, NAN, 3, NAN}, {1, 4});
    const Pair nr = both(nan_row);
    check_equal(k::max(nr.gpu, {1}), k::max(nr.cpu, {1}), "max with NaN");
    check_equal(k::argmax(nr.gpu, 1), k::argmax(nr.cpu, 1), "argmax with NaN");
}

TEST_CASE_TEMPLATE("cuda softmax and log_softmax forward and backward match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(6);
    const DType dt = gs::dtype_of<T>();
    const Pair x = both(gs::normal({4, 9, 5}, g, 0.0, 3.0, dt));
    const Pair dy = both(gs::normal({4, 9, 5}, g, 0.0, 1.0, dt));
    for (std::int64_t dim : {0, 1, 2, -1}) {
        const Tensor yc = k::softmax(x.cpu, dim), yg = k::softmax(x.gpu, dim);
        check_close(yg, yc, math_rtol<T>(), 0, "softmax");
        check_close(k::softmax_backward(yg, dy.gpu, dim), k::softmax_backward(yc, dy.cpu, dim), math_rtol<T>(), 1e-12,
                    "softmax_backward");
        const Tensor lc = k::log_softmax(x.cpu, dim), lg = k::log_softmax(x.gpu, dim);
        check_close(lg, lc, math_rtol<T>(), 1e-12, "log_softmax");
        // dx = dy - softmax * sum(dy), with sum(dy) added in another order on the device: a few
        // ulp of |sum(dy)| (at most ~10 here), absolute however small dx is. Seen on an H100:
        // 0.00319481 against the CPU's 0.00319493.
        check_close(k::log_softmax_backward(lg, dy.gpu, dim), k::log_softmax_backward(lc, dy.cpu, dim), math_rtol<T>(),
                    std::is_same_v<T, float> ? 1e-5 : 1e-12, "log_softmax_backward");
    }
    // A strided input is made contiguous first.
    check_close(k::softmax(x.gpu.transpose(0, 2), 1), k::softmax(x.cpu.transpose(0, 2), 1), math_rtol<T>(), 0,
                "softmax of a transpose");
}

TEST_CASE_TEMPLATE("cuda losses and their backward match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(7);
    const DType dt = gs::dtype_of<T>();
    const std::int64_t N = 33, C = 7;
    const Pair logits = both(gs::normal({N, C}, g, 0.0, 2.0, dt));
    const Pair labels = both(gs::randint({N}, g, 0, C));
    const Pair dloss = both(gs::uniform({N}, g, -1.0, 1.0, dt));

    const auto ce_c = k::softmax_cross_entropy(logits.cpu, labels.cpu);
    const auto ce_g = k::softmax_cross_entropy(logits.gpu, labels.gpu);
    check_close(ce_g.loss, ce_c.loss, math_rtol<T>(), 1e-12, "softmax_cross_entropy");
    check_close(ce_g.log_probs, ce_c.log_probs, math_rtol<T>(), 1e-12, "log_probs");
    check_close(k::softmax_cross_entropy_backward(dloss.gpu, ce_g.log_probs, labels.gpu),
                k::softmax_cross_entropy_backward(dloss.cpu, ce_c.log_probs, labels.cpu), math_rtol<T>(), 1e-12,
                "softmax_cross_entropy_backward");

    check_close(k::multiclass_hinge(logits.gpu, labels.gpu, 0.5), k::multiclass_hinge(logits.cpu, labels.cpu, 0.5),
                sum_rtol<T>(), 1e-12, "multiclass_hinge");
    check_close(k::multiclass_hinge_backward(dloss.gpu, logits.gpu, labels.gpu, 0.5),
                k::multiclass_hinge_backward(dloss.cpu, logits.cpu, labels.cpu, 0.5), sum_rtol<T>(), 1e-12,
                "multiclass_hinge_backward");

    const Pair x1 = both(gs::normal({N}, g, 0.0, 1.0, dt));
    const Pair t1 = both(gs::test::pm1<T>(N, 8));
    check_equal(k::binary_hinge(x1.gpu, t1.gpu), k::binary_hinge(x1.cpu, t1.cpu), "binary_hinge");
    check_equal(k::binary_hinge_backward(dloss.gpu, x1.gpu, t1.gpu), k::binary_hinge_backward(dloss.cpu, x1.cpu, t1.cpu),
                "binary_hinge_backward");

    const Pair in = both(gs::normal({N, 3, 5}, g, 0.0, 1.0, dt));
    const Pair tg = both(gs::normal({N, 3, 5}, g, 0.0, 1.0, dt));
    check_close(k::mse(in.gpu, tg.gpu), k::mse(in.cpu, tg.cpu), sum_rtol<T>(), 1e-12, "mse");
    const auto mg = k::mse_backward(dloss.gpu, in.gpu, tg.gpu, true, true);
    const auto mc = k::mse_backward(dloss.cpu, in.cpu, tg.cpu, true, true);
    check_equal(mg.dinput, mc.dinput, "mse dinput");
    check_equal(mg.dtarget, mc.dtarget, "mse dtarget");

    // Bad labels and targets on the device are reported by example and value, as on the CPU.
    const Tensor bad = Tensor::from_vector(std::vector<std::int64_t>{0, 9}).to(gpu());
    CHECK_THROWS_WITH_AS(k::softmax_cross_entropy(logits.gpu.slice(0, 0, 2), bad),
                         doctest::Contains("label 9 of example 1 is outside [0, C)"), gs::Error);
    CHECK_THROWS_WITH_AS(k::softmax_cross_entropy(logits.gpu, labels.cpu), doctest::Contains("cuda:0"), gs::Error);
}

TEST_CASE_TEMPLATE("cuda SGD and Adam steps match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(9);
    const DType dt = gs::dtype_of<T>();
    const Tensor w0 = gs::normal({129}, g, 0.0, 1.0, dt), g0 = gs::normal({129}, g, 0.0, 1.0, dt);
    for (bool nesterov : {false, true}) {
        Tensor wc = w0.clone(), vc = Tensor::zeros({129}, dt);
        Tensor wg = w0.to(gpu()), vg = Tensor::zeros({129}, dt, gpu());
        const Tensor gg = g0.to(gpu());
        const k::SgdStep step{0.1, 0.9, 1e-3, nesterov};
        for (int i = 0; i < 3; ++i) {
            k::sgd_step_(wc, g0, vc, step);
            k::sgd_step_(wg, gg, vg, step);
        }
        // The functor is the same; only FMA contraction on the device can change the last bits (the
        // absolute term covers values that cancel to near 0; inputs are O(1)).
        const double eps = std::numeric_limits<T>::epsilon();
        check_close(wg, wc, 8 * eps, 8 * eps, "sgd w");
        check_close(vg, vc, 8 * eps, 8 * eps, "sgd v");
    }
    Tensor wc = w0.clone(), mc = Tensor::zeros({129}, dt), vc = Tensor::zeros({129}, dt);
    Tensor wg = w0.to(gpu()), mg = Tensor::zeros({129}, dt, gpu()), vg = Tensor::zeros({129}, dt, gpu());
    const Tensor gg = g0.to(gpu());
    for (int t = 1; t <= 3; ++t) {
        const k::AdamStep step = k::AdamStep{1e-2, 0.9, 0.999, 1e-8, 1e-4}.for_step(t);
        k::adam_step_(wc, g0, mc, vc, step);
        k::adam_step_(wg, gg, mg, vg, step);
    }
    // sqrt and the contraction of the moment updates may differ by an ulp per step.
    const double eps = std::numeric_limits<T>::epsilon();
    check_close(wg, wc, 16 * eps, 16 * eps, "adam w");
    check_close(mg, mc, 16 * eps, 16 * eps, "adam m");
    check_close(vg, vc, 16 * eps, 16 * eps, "adam v");
    Tensor wrong = w0.clone();
    CHECK_THROWS_WITH_AS(k::sgd_step_(wrong, gg, vg, k::SgdStep{0.1, 0.9}), doctest::Contains("cuda:0"), gs::Error);
}

TEST_CASE_TEMPLATE("cuda dropout draws the CPU mask bit for bit", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(10);
    const Pair x = both(gs::normal({7, 129}, g, 0.0, 1.0, gs::dtype_of<T>()));
    gs::Generator gc(11, 2), gg(11, 2);
    const auto rc = k::dropout_forward(x.cpu, 0.3, gc);
    const auto rg = k::dropout_forward(x.gpu, 0.3, gg);
    CHECK(gc == gg);
    check_equal(rg.mask, rc.mask, "dropout mask");
    check_equal(rg.y, rc.y, "dropout y");
    const Pair dy = both(gs::normal({7, 129}, g, 0.0, 1.0, gs::dtype_of<T>()));
    check_equal(k::dropout_backward(dy.gpu, rg.mask, 0.3), k::dropout_backward(dy.cpu, rc.mask, 0.3), "dropout dx");
}

TEST_CASE_TEMPLATE("cuda local_response_norm forward and backward match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(12);
    for (const k::LrnParams& p : {k::LrnParams{9, 0.5, 0.75, 1.0}, k::LrnParams{4, 0.3, 0.6, 2.0}}) {
        INFO("size ", p.size, " beta ", p.beta);
        const Pair x = both(gs::normal({3, 11, 5, 7}, g, 0.0, 1.5, gs::dtype_of<T>()));
        const Pair dy = both(gs::normal({3, 11, 5, 7}, g, 0.0, 1.0, gs::dtype_of<T>()));
        const auto rc = k::local_response_norm_forward(x.cpu, p);
        const auto rg = k::local_response_norm_forward(x.gpu, p);
        // Same summation order, but nvcc contracts a*b+c into FMAs and its pow may differ by an ulp.
        check_close(rg.scale, rc.scale, math_rtol<T>(), 0.0, "lrn scale");
        check_close(rg.y, rc.y, math_rtol<T>(), 0.0, "lrn y");
        const Tensor dxc = k::local_response_norm_backward(dy.cpu, x.cpu, rc.scale, p);
        const Tensor dxg = k::local_response_norm_backward(dy.gpu, x.gpu, rg.scale, p);
        // dx is a difference of two terms: absolute tolerance relative to its largest entry.
        check_close(dxg, dxc, math_rtol<T>(), math_rtol<T>() * gs::test::max_abs(dxc), "lrn dx");
    }
}
