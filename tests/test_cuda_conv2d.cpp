// cuDNN conv2d (kernels::conv2d_* on CUDA tensors) against the CPU path on fresh random inputs:
// forward with and without bias, backward input, backward weight and bias gradient, over every
// geometry feature (stride, padding, dilation, groups, depthwise, non-square, N = 1), f32 and f64;
// deterministic mode; device errors. Skips (GS_REQUIRE_GPU) without a CUDA device.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda_compare.h"
#include "kernels/conv2d.h"
#include "kernels/cuda_settings.h"
#include "tensor/random.h"

namespace {

using gs::Shape;
using gs::Tensor;
using gs::kernels::Conv2dGeometry;
using i64 = std::int64_t;
using gs::test::check_close;
using gs::test::gpu;
using gs::test::max_abs;
using gs::test::randu;

struct Problem {
    i64 N, C, H, W, K, R, S;
    Conv2dGeometry g;
    const char* name;
};

Conv2dGeometry geom(i64 sh, i64 sw, i64 ph, i64 pw, i64 dh, i64 dw, i64 groups) {
    Conv2dGeometry g;
    g.stride_h = sh, g.stride_w = sw, g.pad_h = ph, g.pad_w = pw, g.dil_h = dh, g.dil_w = dw, g.groups = groups;
    return g;
}

std::vector<Problem> problems() {
    return {
        {2, 3, 7, 7, 4, 3, 3, geom(1, 1, 0, 0, 1, 1, 1), "plain"},
        {2, 3, 9, 7, 5, 3, 3, geom(2, 2, 0, 0, 1, 1, 1), "stride 2"},
        {3, 2, 7, 9, 3, 3, 3, geom(1, 1, 1, 1, 1, 1, 1), "padding 1"},
        {2, 3, 9, 9, 2, 3, 3, geom(1, 1, 0, 0, 2, 2, 1), "dilation 2"},
        {2, 4, 7, 7, 6, 3, 3, geom(1, 1, 1, 1, 1, 1, 2), "groups 2"},
        {2, 5, 7, 7, 5, 3, 3, geom(1, 1, 1, 1, 1, 1, 5), "depthwise"},
        {1, 3, 11, 6, 4, 2, 5, geom(2, 1, 1, 2, 1, 2, 1), "non-square everything, N=1"},
        {3, 6, 5, 5, 4, 1, 1, geom(1, 1, 0, 0, 1, 1, 2), "pointwise 1x1 with groups"},
        {1, 1, 1, 1, 1, 1, 1, geom(1, 1, 0, 0, 1, 1, 1), "1x1x1x1"},
        {5, 3, 13, 13, 7, 5, 5, geom(3, 2, 2, 1, 1, 2, 1), "odd sizes, mixed geometry"},
        {1, 2, 4, 4, 3, 3, 3, geom(1, 1, 3, 3, 1, 1, 1), "padding larger than half the filter"},
        {8, 16, 32, 32, 32, 3, 3, geom(1, 1, 1, 1, 1, 1, 1), "a ResNet-sized layer (FFT/Winograd candidates)"},
    };
}

// Tolerance, relative to the largest |value| of the CPU result: FMA math is pinned (no TF32), but
// the heuristics may pick FFT or Winograd algorithms, whose rounding grows with the transform
// rather than per element; 1e-4 of the output scale covers them in f32 (sums of at most a few
// thousand products of values in [-1, 1]), 1e-11 in f64.
template <class T>
double atol_for(const Tensor& want) {
    return (sizeof(T) == 4 ? 1e-4 : 1e-11) * std::max(1.0, max_abs(want));
}
template <class T>
constexpr double rtol = sizeof(T) == 4 ? 1e-4 : 1e-10;

template <class T>
void check_problem(const Problem& p, gs::Generator& gen) {
    namespace k = gs::kernels;
    const Shape xs{p.N, p.C, p.H, p.W}, ws{p.K, p.C / p.g.groups, p.R, p.S};
    const Tensor x = randu<T>(xs, gen), w = randu<T>(ws, gen), b = randu<T>({p.K}, gen);
    const Tensor y_cpu = k::conv2d_forward(x, w, Tensor(), p.g);
    const Tensor dy = randu<T>(y_cpu.shape(), gen);
    const std::string name = p.name;

    Tensor want = k::conv2d_forward(x, w, b, p.g);
    check_close(k::conv2d_forward(gpu(x), gpu(w), gpu(b), p.g), want, rtol<T>, atol_for<T>(want), name + ": forward");
    check_close(k::conv2d_forward(gpu(x), gpu(w), Tensor(), p.g), y_cpu, rtol<T>, atol_for<T>(y_cpu),
                    name + ": forward without bias");
    want = k::conv2d_backward_input(dy, w, xs, p.g);
    check_close(k::conv2d_backward_input(gpu(dy), gpu(w), xs, p.g), want, rtol<T>, atol_for<T>(want),
                    name + ": backward input");
    want = k::conv2d_backward_weight(dy, x, ws, p.g);
    check_close(k::conv2d_backward_weight(gpu(dy), gpu(x), ws, p.g), want, rtol<T>, atol_for<T>(want),
                    name + ": backward weight");
    want = k::conv2d_backward_bias(dy);
    check_close(k::conv2d_backward_bias(gpu(dy)), want, rtol<T>, atol_for<T>(want), name + ": backward bias");
}

}  // namespace

TEST_CASE_TEMPLATE("cuda conv2d forward and backward match the CPU for every geometry", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator gen(201);
    for (const Problem& p : problems()) {
        CAPTURE(p.name);
        check_problem<T>(p, gen);
    }
}

TEST_CASE_TEMPLATE("cuda conv2d in deterministic mode is reproducible and matches the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    namespace k = gs::kernels;
    gs::kernels::set_deterministic(true);
    gs::Generator gen(202);
    // Backward weight and data are where cuDNN's non-deterministic (atomic) algorithms live.
    for (const Problem& p : problems()) {
        CAPTURE(p.name);
        check_problem<T>(p, gen);
        const Shape xs{p.N, p.C, p.H, p.W}, ws{p.K, p.C / p.g.groups, p.R, p.S};
        const Tensor x = gpu(randu<T>(xs, gen));
        const Tensor dy = gpu(randu<T>({p.N, p.K, p.g.out_h(p.H, p.R), p.g.out_w(p.W, p.S)}, gen));
        const Tensor w = gpu(randu<T>(ws, gen));
        CHECK(gs::test::host(k::conv2d_backward_weight(dy, x, ws, p.g)).template to_vector<T>() ==
              gs::test::host(k::conv2d_backward_weight(dy, x, ws, p.g)).template to_vector<T>());
        CHECK(gs::test::host(k::conv2d_backward_input(dy, w, xs, p.g)).template to_vector<T>() ==
              gs::test::host(k::conv2d_backward_input(dy, w, xs, p.g)).template to_vector<T>());
    }
    gs::kernels::set_deterministic(false);
}

TEST_CASE_TEMPLATE("cuda conv2d with algorithms chosen by timing matches the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    // Timing may pick algorithms (FFT, Winograd) the heuristics never do for these shapes; each
    // problem is then checked against the CPU as in the default mode, deterministic mode too.
    gs::Generator gen(204);
    gs::kernels::set_conv_benchmark(true);
    for (bool det : {false, true}) {
        gs::kernels::set_deterministic(det);
        for (const Problem& p : problems()) {
            CAPTURE(p.name);
            CAPTURE(det);
            check_problem<T>(p, gen);
        }
    }
    gs::kernels::set_deterministic(false);
    gs::kernels::set_conv_benchmark(false);
}

TEST_CASE_TEMPLATE("cuda conv2d with an empty batch", T, float, double) {
    GS_REQUIRE_GPU();
    namespace k = gs::kernels;
    gs::Generator gen(203);
    const Conv2dGeometry g = geom(1, 1, 1, 1, 1, 1, 1);
    const Tensor x = gpu(Tensor::zeros({0, 3, 5, 5}, gs::dtype_of<T>())), w = gpu(randu<T>({4, 3, 3, 3}, gen));
    CHECK(k::conv2d_forward(x, w, Tensor(), g).shape() == Shape{0, 4, 5, 5});
    const Tensor dy = gpu(Tensor::zeros({0, 4, 5, 5}, gs::dtype_of<T>()));
    // An empty sum over the batch: zeros (not uninitialized memory).
    check_close(k::conv2d_backward_weight(dy, x, {4, 3, 3, 3}, g), Tensor::zeros({4, 3, 3, 3}, gs::dtype_of<T>()), 0,
                    0, "empty-batch weight gradient");
    check_close(k::conv2d_backward_bias(dy), Tensor::zeros({4}, gs::dtype_of<T>()), 0, 0, "empty-batch bias gradient");
}

TEST_CASE("cuda conv2d refuses mixed devices and names them") {
    GS_REQUIRE_GPU();
    const Tensor x = Tensor::zeros({1, 3, 5, 5}), w = Tensor::zeros({4, 3, 3, 3});
    CHECK_THROWS_WITH_AS(gs::kernels::conv2d_forward(gpu(x), w, Tensor(), Conv2dGeometry{}),
                         doctest::Contains("cuda:0"), gs::Error);
}
