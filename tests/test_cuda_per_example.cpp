// Per-example statistics on CUDA tensors (the composite kernels over cuBLAS, cuDNN and our own
// kernels) against the CPU loops on the same inputs: the kernels of every covered layer type, and
// the collector on alexnet_small, in f32 and f64. The composite path itself is checked on CPU
// tensors by test_kernels_per_example.cpp and test_per_example.cpp; these tests add the devices'
// own kernels. Skips (GS_REQUIRE_GPU) without a CUDA device.
#include <doctest/doctest.h>

#include <cstdint>
#include <memory>
#include <string>

#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "cuda_compare.h"
#include "kernels/per_example.h"
#include "nn/models.h"
#include "nn/per_example.h"

namespace {

using gs::Shape;
using gs::Tensor;
using gs::autograd::Variable;
using gs::kernels::Conv2dGeometry;
using gs::kernels::PerExampleConfig;
using gs::kernels::PerExampleMethod;
using gs::test::gpu;
using i64 = std::int64_t;

// Relative to the largest |value| of the CPU result. f64: both sides sum in different orders
// (1e-15 per op). f32: cuBLAS/cuDNN with FMA math pinned (no TF32) against the CPU's blocked sums,
// a few hundred to a few thousand terms per entry; 1e-4 leaves room without hiding a wrong term.
template <class T>
double tol() {
    return std::is_same_v<T, double> ? 1e-10 : 1e-4;
}

template <class T>
void close(const Tensor& on_gpu, const Tensor& on_cpu, const std::string& what) {
    gs::test::check_close_to_scale(on_gpu, on_cpu, tol<T>(), what);
}

template <class T>
void close_moments(const gs::kernels::PerExampleMoments& g, const gs::kernels::PerExampleMoments& c) {
    close<T>(g.sum_weight, c.sum_weight, "sum weight");
    close<T>(g.sum_sq_weight, c.sum_sq_weight, "sum_sq weight");
    close<T>(g.sum_bias, c.sum_bias, "sum bias");
    close<T>(g.sum_sq_bias, c.sum_sq_bias, "sum_sq bias");
}

// A budget of 2000 elements splits the larger layers into several blocks of output units.
const PerExampleConfig kConfigs[] = {{PerExampleMethod::automatic, gs::kernels::kPerExampleDefaultBudget},
                                     {PerExampleMethod::materialize, 2000}};

}  // namespace

TEST_CASE_TEMPLATE("cuda per_example: linear kernels match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    for (const Shape& as : {Shape{9, 33}, Shape{5, 4, 7}}) {
        CAPTURE(gs::shape_str(as));
        Shape ds = as;
        ds.back() = 6;
        const Tensor a = gs::test::randn<T>(as, 1), d = gs::test::randn<T>(ds, 2);
        const Tensor ga = gpu(a), gd = gpu(d);
        close<T>(gs::kernels::linear_per_example_grad_weight(ga, gd), gs::kernels::linear_per_example_grad_weight(a, d),
                 "grad weight");
        close<T>(gs::kernels::linear_per_example_grad_bias(gd), gs::kernels::linear_per_example_grad_bias(d), "grad bias");
        for (const PerExampleConfig& cfg : kConfigs) {
            CAPTURE(gs::kernels::per_example_method_name(cfg.method));
            close<T>(gs::kernels::linear_per_example_sq_norms(ga, gd, true, true, cfg),
                     gs::kernels::linear_per_example_sq_norms(a, d, true, true, cfg), "norms");
            close<T>(gs::kernels::linear_per_example_gram(ga, gd, true, false, cfg),
                     gs::kernels::linear_per_example_gram(a, d, true, false, cfg), "gram");
            close_moments<T>(gs::kernels::linear_per_example_moments(ga, gd, true, true, cfg),
                             gs::kernels::linear_per_example_moments(a, d, true, true, cfg));
        }
    }
}

TEST_CASE_TEMPLATE("cuda per_example: conv2d kernels match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    auto geom = [](i64 s, i64 p, i64 dil, i64 groups) {
        Conv2dGeometry g;
        g.stride_h = g.stride_w = s, g.pad_h = g.pad_w = p, g.dil_h = g.dil_w = dil, g.groups = groups;
        return g;
    };
    struct Case {
        i64 B, C, H, K, R;
        Conv2dGeometry g;
    };
    for (const Case& c : {Case{4, 3, 9, 5, 3, geom(1, 1, 1, 1)}, Case{3, 4, 9, 6, 3, geom(2, 0, 1, 2)},
                         Case{2, 2, 11, 3, 3, geom(1, 2, 2, 1)}, Case{5, 4, 6, 4, 1, geom(1, 0, 1, 4)}}) {
        CAPTURE(c.g.str());
        const Shape ws{c.K, c.C / c.g.groups, c.R, c.R};
        const i64 OH = c.g.out_h(c.H, c.R);
        const Tensor x = gs::test::randn<T>({c.B, c.C, c.H, c.H}, 3), dy = gs::test::randn<T>({c.B, c.K, OH, OH}, 4);
        const Tensor gx = gpu(x), gdy = gpu(dy);
        close<T>(gs::kernels::conv2d_per_example_grad_weight(gx, gdy, ws, c.g),
                 gs::kernels::conv2d_per_example_grad_weight(x, dy, ws, c.g), "grad weight");
        close<T>(gs::kernels::conv2d_per_example_grad_bias(gdy), gs::kernels::conv2d_per_example_grad_bias(dy), "grad bias");
        for (const PerExampleConfig& cfg : kConfigs) {
            CAPTURE(gs::kernels::per_example_method_name(cfg.method));
            close<T>(gs::kernels::conv2d_per_example_sq_norms(gx, gdy, ws, c.g, true, true, cfg),
                     gs::kernels::conv2d_per_example_sq_norms(x, dy, ws, c.g, true, true, cfg), "norms");
            close<T>(gs::kernels::conv2d_per_example_gram(gx, gdy, ws, c.g, true, true, cfg),
                     gs::kernels::conv2d_per_example_gram(x, dy, ws, c.g, true, true, cfg), "gram");
            close_moments<T>(gs::kernels::conv2d_per_example_moments(gx, gdy, ws, c.g, true, true, cfg),
                             gs::kernels::conv2d_per_example_moments(x, dy, ws, c.g, true, true, cfg));
        }
        CHECK_THROWS_WITH_AS(gs::kernels::conv2d_per_example_gram(gx, gdy, ws, c.g, true, true,
                                                                  {PerExampleMethod::patches, 1 << 20}),
                             doctest::Contains("the patches method needs the CPU kernels"), gs::Error);
    }
}

TEST_CASE_TEMPLATE("cuda per_example: batch norm and row kernels match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    const Tensor x = gs::test::randn<T>({4, 3, 5, 5}, 5), dy = gs::test::randn<T>({4, 3, 5, 5}, 6);
    const Tensor mean = gs::test::randn<T>({3}, 7), var = gs::Tensor::full({3}, 1.7, gs::dtype_of<T>());
    close<T>(gs::kernels::batch_norm_per_example_grad_weight(gpu(x), gpu(dy), gpu(mean), gpu(var), 1e-5),
             gs::kernels::batch_norm_per_example_grad_weight(x, dy, mean, var, 1e-5), "grad gamma");
    close<T>(gs::kernels::batch_norm_per_example_grad_bias(gpu(dy)), gs::kernels::batch_norm_per_example_grad_bias(dy),
             "grad beta");
    const Tensor g = gs::test::randn<T>({7, 41}, 8);
    close<T>(gs::kernels::per_example_row_sq_norms(gpu(g)), gs::kernels::per_example_row_sq_norms(g), "row norms");
    close<T>(gs::kernels::per_example_row_gram(gpu(g)), gs::kernels::per_example_row_gram(g), "row gram");
}

TEST_CASE_TEMPLATE("cuda per_example: the collector on alexnet_small matches the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    const Tensor x = gs::test::randn<T>({4, 3, 28, 28}, 9);
    const Tensor y = gs::test::labels_for(4, 10, 10);
    struct Result {
        Tensor grads, norms, gram;
        gs::nn::PerExampleMoments moments;
    };
    auto run = [&](gs::Device device) {
        gs::Generator gen(11);
        auto net = gs::nn::alexnet_small(3, 10, gen, gs::dtype_of<T>());  // same weights on both devices
        net->to(device);
        gs::nn::PerExampleCollector pe(*net);
        gs::autograd::sum(gs::autograd::cross_entropy((*net)(Variable(x.to(device))), y.to(device))).backward();
        CHECK(pe.device() == device);
        return Result{pe.gradients(), pe.squared_norms(), pe.gram(), pe.moments()};
    };
    const Result c = run(gs::Device::cpu()), g = run(gs::test::gpu());
    close<T>(g.grads, c.grads, "gradients");
    close<T>(g.norms, c.norms, "squared norms");
    close<T>(g.gram, c.gram, "gram");
    close<T>(g.moments.sum, c.moments.sum, "sum");
    close<T>(g.moments.sum_sq, c.moments.sum_sq, "sum_sq");
}
