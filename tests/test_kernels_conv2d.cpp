// conv2d forward, backward input/weight/bias against naive loops over every geometry feature
// (stride, padding, dilation, groups, depthwise, non-square, N = 1, odd sizes), and bad geometry.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/conv2d_winograd.h"
#include "kernels/gemm.h"
#include "tensor/random.h"
#include "test_util.h"

namespace {

using gs::Shape;
using gs::Tensor;
using gs::kernels::Conv2dGeometry;
using i64 = std::int64_t;
using gs::test::max_abs_diff;
using gs::test::randu;

struct Problem {
    i64 N, C, H, W, K, R, S;
    Conv2dGeometry g;
    const char* name;
};

// Reference forward: y[n,k,oh,ow] = b[k] + sum_{c,r,s} x[n, grp*Cg + c, ih, iw] w[k, c, r, s], in
// double. The adjoint references below loop over exactly the same (n,k,oh,ow,c,r,s) terms, so a
// bug in the index map of a kernel cannot be shared with its reference.
struct Reference {
    Problem p;
    i64 OH, OW, Cg, Kg;
    explicit Reference(const Problem& q) : p(q) {
        OH = p.g.out_h(p.H, p.R);
        OW = p.g.out_w(p.W, p.S);
        Cg = p.C / p.g.groups;
        Kg = p.K / p.g.groups;
    }
    // Calls f(x_index, w_index, y_index) for every product term of the convolution.
    template <class F>
    void for_each_term(F f) const {
        for (i64 n = 0; n < p.N; ++n)
            for (i64 k = 0; k < p.K; ++k)
                for (i64 oh = 0; oh < OH; ++oh)
                    for (i64 ow = 0; ow < OW; ++ow)
                        for (i64 c = 0; c < Cg; ++c)
                            for (i64 r = 0; r < p.R; ++r)
                                for (i64 s = 0; s < p.S; ++s) {
                                    const i64 ih = oh * p.g.stride_h - p.g.pad_h + r * p.g.dil_h;
                                    const i64 iw = ow * p.g.stride_w - p.g.pad_w + s * p.g.dil_w;
                                    if (ih < 0 || ih >= p.H || iw < 0 || iw >= p.W) continue;
                                    const i64 ci = (k / Kg) * Cg + c;
                                    f(((n * p.C + ci) * p.H + ih) * p.W + iw, ((k * Cg + c) * p.R + r) * p.S + s,
                                      ((n * p.K + k) * OH + oh) * OW + ow);
                                }
    }
    std::vector<double> forward(const std::vector<double>& x, const std::vector<double>& w,
                                const std::vector<double>& b) const {
        std::vector<double> y(std::size_t(p.N * p.K * OH * OW));
        for (i64 i = 0; i < i64(y.size()); ++i) y[std::size_t(i)] = b[std::size_t((i / (OH * OW)) % p.K)];
        for_each_term([&](i64 xi, i64 wi, i64 yi) { y[std::size_t(yi)] += x[std::size_t(xi)] * w[std::size_t(wi)]; });
        return y;
    }
    std::vector<double> backward_input(const std::vector<double>& dy, const std::vector<double>& w) const {
        std::vector<double> dx(std::size_t(p.N * p.C * p.H * p.W), 0.0);
        for_each_term([&](i64 xi, i64 wi, i64 yi) { dx[std::size_t(xi)] += dy[std::size_t(yi)] * w[std::size_t(wi)]; });
        return dx;
    }
    std::vector<double> backward_weight(const std::vector<double>& dy, const std::vector<double>& x) const {
        std::vector<double> dw(std::size_t(p.K * Cg * p.R * p.S), 0.0);
        for_each_term([&](i64 xi, i64 wi, i64 yi) { dw[std::size_t(wi)] += dy[std::size_t(yi)] * x[std::size_t(xi)]; });
        return dw;
    }
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
        {9, 3, 5, 6, 7, 3, 3, geom(1, 1, 1, 1, 1, 1, 1), "several images per gemm, panels across images"},
        {8, 4, 3, 3, 5, 1, 1, geom(1, 1, 0, 0, 1, 1, 1), "pointwise, several images per gemm"},
        {2, 3, 9, 9, 2, 3, 3, geom(1, 1, 2, 1, 2, 2, 1), "dilation 2 with padding"},
        // 3x3, unit stride, >= 16 channels per group: the Winograd path. Each case has at least
        // 128 2x2 output tiles in the batch, so the weight gradient takes it too.
        {5, 16, 13, 11, 17, 3, 3, geom(1, 1, 1, 1, 1, 1, 1), "winograd: odd sizes, several tile blocks"},
        {13, 32, 6, 7, 32, 3, 3, geom(1, 1, 0, 2, 1, 1, 2), "winograd: groups 2, paddings 0 and 2"},
        // 5x5: F(2x2, 5x5).
        {6, 16, 9, 10, 17, 5, 5, geom(1, 1, 2, 2, 1, 1, 1), "winograd: 5x5, odd output channels"},
        {8, 32, 9, 12, 32, 5, 5, geom(1, 1, 0, 2, 1, 1, 2), "winograd: 5x5, groups 2, paddings 0 and 2"},
        // One image of 49 tiles (a per-example gradient's size): still Winograd for 5x5.
        {1, 16, 14, 14, 16, 5, 5, geom(1, 1, 2, 2, 1, 1, 1), "winograd: 5x5, one 14x14 image"},
        {7, 16, 8, 9, 16, 3, 5, geom(1, 1, 1, 2, 1, 1, 1), "winograd: 3x5 as two 3x3 blocks"},
        // 42 tiles: Winograd forward and input gradient, im2col weight gradient.
        {1, 16, 13, 11, 16, 3, 3, geom(1, 1, 1, 1, 1, 1, 1), "winograd: one image, im2col weight gradient"},
    };
}

// Sums of a few hundred products of values in [-1, 1]: float keeps ~1e-5 absolute.
template <class T>
double tol() {
    return sizeof(T) == 4 ? 2e-5 : 1e-12;
}
// The weight and bias gradients sum over N*OH*OW positions; their rounding error grows with that
// count (the tolerance above held for a few hundred terms).
template <class T>
double sum_tol(std::int64_t terms) {
    return tol<T>() * std::max(1.0, double(terms) / 256.0);
}
// A 5x5 filter on the Winograd path goes through F(2x2, 5x5), whose transforms scale values by up
// to 10 per axis (B^T rows such as 4 0 -5 0 1): its float rounding measured up to 3.4x the bounds
// above on the forward sums and 6x on the weight gradient's, so its float bounds are 8x.
template <class T>
double f25_factor(const Problem& p) {
    const gs::kernels::cpu::WinogradShape ws{p.N, p.C, p.H, p.W, p.K, 1, 1, p.g.groups, p.R, p.S};
    const bool f25 = gs::kernels::cpu::winograd_applies(ws, p.g) && gs::kernels::cpu::winograd_uses_f25(ws);
    return sizeof(T) == 4 && f25 ? 8.0 : 1.0;
}
template <class T>
double tol(const Problem& p) {
    return tol<T>() * f25_factor<T>(p);
}
template <class T>
double sum_tol(const Problem& p, std::int64_t terms) {
    return sum_tol<T>(terms) * f25_factor<T>(p);
}

// Fresh random x, w, b and dy of a problem (values in [-1, 1], drawn in that order) and their f64
// copies for the reference.
template <class T>
struct Inputs {
    Tensor x, w, b, dy;
    std::vector<double> xv, wv, bv, dyv;
    Inputs(const Problem& p, const Reference& ref, gs::Generator& gen)
        : x(randu<T>({p.N, p.C, p.H, p.W}, gen)),
          w(randu<T>({p.K, p.C / p.g.groups, p.R, p.S}, gen)),
          b(randu<T>({p.K}, gen)),
          dy(randu<T>({p.N, p.K, ref.OH, ref.OW}, gen)),
          xv(x.template to_vector<double>()),
          wv(w.template to_vector<double>()),
          bv(b.template to_vector<double>()),
          dyv(dy.template to_vector<double>()) {}
};

}  // namespace

TEST_CASE_TEMPLATE("conv2d forward and backward match naive loops", T, float, double) {
    gs::Generator gen(21);
    for (const Problem& p : problems()) {
        CAPTURE(p.name);
        const Reference ref(p);
        Tensor x = randu<T>({p.N, p.C, p.H, p.W}, gen);
        Tensor w = randu<T>({p.K, p.C / p.g.groups, p.R, p.S}, gen);
        Tensor b = randu<T>({p.K}, gen);
        const auto xv = x.template to_vector<double>(), wv = w.template to_vector<double>(),
                   bv = b.template to_vector<double>();
        Tensor y = gs::kernels::conv2d_forward(x, w, b, p.g);
        REQUIRE(y.shape() == Shape{p.N, p.K, ref.OH, ref.OW});
        CHECK(max_abs_diff(y, ref.forward(xv, wv, bv)) <= tol<T>(p));
        // Without a bias the forward must not read anything stale from the output buffer.
        Tensor y0 = gs::kernels::conv2d_forward(x, w, Tensor(), p.g);
        CHECK(max_abs_diff(y0, ref.forward(xv, wv, std::vector<double>(std::size_t(p.K), 0.0))) <= tol<T>(p));

        Tensor dy = randu<T>(y.shape(), gen);
        const auto dyv = dy.template to_vector<double>();
        Tensor dx = gs::kernels::conv2d_backward_input(dy, w, x.shape(), p.g);
        CHECK(dx.shape() == x.shape());
        CHECK(max_abs_diff(dx, ref.backward_input(dyv, wv)) <= tol<T>(p));
        Tensor dw = gs::kernels::conv2d_backward_weight(dy, x, w.shape(), p.g);
        CHECK(dw.shape() == w.shape());
        CHECK(max_abs_diff(dw, ref.backward_weight(dyv, xv)) <= sum_tol<T>(p, p.N * ref.OH * ref.OW));
        Tensor db = gs::kernels::conv2d_backward_bias(dy);
        std::vector<double> dbv(std::size_t(p.K), 0.0);
        for (std::size_t i = 0; i < dyv.size(); ++i) dbv[(i / std::size_t(ref.OH * ref.OW)) % std::size_t(p.K)] += dyv[i];
        CHECK(max_abs_diff(db, dbv) <= sum_tol<T>(p.N * ref.OH * ref.OW));
    }
}

TEST_CASE("conv2d accepts non-contiguous inputs") {
    gs::Generator gen(22);
    const Problem p{2, 3, 6, 5, 4, 3, 3, geom(1, 1, 1, 1, 1, 1, 1), "permuted"};
    const Reference ref(p);
    // x stored as (N, H, W, C) and viewed as (N, C, H, W).
    Tensor x = randu<double>({p.N, p.H, p.W, p.C}, gen).permute({0, 3, 1, 2});
    Tensor w = randu<double>({p.K, p.C, p.R, p.S}, gen);
    Tensor b = randu<double>({p.K}, gen);
    Tensor y = gs::kernels::conv2d_forward(x, w, b, p.g);
    CHECK(max_abs_diff(y, ref.forward(x.to_vector<double>(), w.to_vector<double>(), b.to_vector<double>())) <= 1e-12);
}

TEST_CASE("conv2d backward weight is identical with 1 and 2 threads") {
    gs::Generator gen(23);
    Tensor x = randu<float>({9, 4, 8, 8}, gen), dy = randu<float>({9, 6, 8, 8}, gen);
    const Conv2dGeometry g = geom(1, 1, 1, 1, 1, 1, 1);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const auto dw1 = gs::kernels::conv2d_backward_weight(dy, x, {6, 4, 3, 3}, g).to_vector<float>();
    const auto y1 = gs::kernels::conv2d_forward(x, randu<float>({6, 4, 3, 3}, gen), Tensor(), g).to_vector<float>();
    omp_set_num_threads(2);
    gen = gs::Generator(23);
    x = randu<float>({9, 4, 8, 8}, gen), dy = randu<float>({9, 6, 8, 8}, gen);
    const auto dw2 = gs::kernels::conv2d_backward_weight(dy, x, {6, 4, 3, 3}, g).to_vector<float>();
    const auto y2 = gs::kernels::conv2d_forward(x, randu<float>({6, 4, 3, 3}, gen), Tensor(), g).to_vector<float>();
    omp_set_num_threads(saved);
    CHECK(dw1 == dw2);
    CHECK(y1 == y2);
}

TEST_CASE("conv2d with an empty batch") {
    Tensor x = Tensor::zeros({0, 3, 5, 5}), w = Tensor::ones({2, 3, 3, 3});
    Tensor y = gs::kernels::conv2d_forward(x, w, Tensor(), {});
    CHECK(y.shape() == Shape{0, 2, 3, 3});
    Tensor dw = gs::kernels::conv2d_backward_weight(Tensor::zeros({0, 2, 3, 3}), x, w.shape(), {});
    for (double v : dw.to_vector<double>()) CHECK(v == 0.0);
}

TEST_CASE("conv2d with no input channels gives the bias") {
    // No products to sum: y must still be assigned (the outputs come from the poisoned allocator).
    Tensor x = Tensor::zeros({2, 0, 5, 5}), w = Tensor::zeros({3, 0, 3, 3});
    Tensor b = Tensor::from_vector(std::vector<float>{1.f, 2.f, 3.f}, {3});
    const auto y = gs::kernels::conv2d_forward(x, w, b, geom(1, 1, 1, 1, 1, 1, 1)).to_vector<float>();
    REQUIRE(y.size() == 2 * 3 * 25);
    for (std::size_t i = 0; i < y.size(); ++i) CHECK(y[i] == float((i / 25) % 3 + 1));
    for (float v : gs::kernels::conv2d_forward(x, w, Tensor(), {}).to_vector<float>()) CHECK(v == 0.f);
}

TEST_CASE("conv2d rejects bad shapes and geometry naming them") {
    Tensor x = Tensor::zeros({2, 4, 5, 5}), w = Tensor::zeros({6, 2, 3, 3});
    using gs::kernels::conv2d_forward;
    // Filter larger than the input: non-positive output size.
    CHECK_THROWS_WITH_AS(conv2d_forward(x, Tensor::zeros({6, 4, 7, 7}), Tensor(), {}),
                         doctest::Contains("output size -1 x -1 is not positive"), gs::Error);
    // Dilation makes the filter span too large.
    CHECK_THROWS_WITH_AS(conv2d_forward(x, Tensor::zeros({6, 4, 3, 3}), Tensor(), geom(1, 1, 0, 0, 3, 3, 1)),
                         doctest::Contains("dilation=(3, 3)"), gs::Error);
    // Channels not divisible by groups.
    CHECK_THROWS_WITH_AS(conv2d_forward(x, Tensor::zeros({6, 1, 3, 3}), Tensor(), geom(1, 1, 0, 0, 1, 1, 3)),
                         doctest::Contains("divisible by groups=3"), gs::Error);
    // Weight channels inconsistent with groups.
    CHECK_THROWS_WITH_AS(conv2d_forward(x, w, Tensor(), {}), doctest::Contains("[6, 2, 3, 3] expects 2 input channels"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(conv2d_forward(x, w, Tensor(), geom(0, 1, 0, 0, 1, 1, 2)), doctest::Contains("invalid geometry"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(conv2d_forward(Tensor::zeros({4, 5, 5}), w, Tensor(), {}), doctest::Contains("4-d"), gs::Error);
    CHECK_THROWS_WITH_AS(conv2d_forward(x, w, Tensor::zeros({5}), geom(1, 1, 0, 0, 1, 1, 2)),
                         doctest::Contains("bias [5]"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::conv2d_backward_input(Tensor::zeros({2, 6, 4, 4}), w, x.shape(),
                                                            geom(1, 1, 0, 0, 1, 1, 2)),
                         doctest::Contains("[2, 6, 3, 3]"), gs::Error);
    CHECK_THROWS_WITH_AS(conv2d_forward(x.to(gs::DType::f64), w, Tensor(), geom(1, 1, 0, 0, 1, 1, 2)),
                         doctest::Contains("conv2d_forward"), gs::Error);
}

TEST_CASE("Conv2dGeometry output sizes") {
    Conv2dGeometry g = geom(2, 3, 1, 0, 2, 1, 1);
    CHECK(g.out_h(7, 3) == 3);  // (7 + 2 - 4 - 1)/2 + 1
    CHECK(g.out_w(7, 3) == 2);  // (7 - 2 - 1)/3 + 1
    CHECK(g.out_h(2, 3) == 0);  // span -1 floors to -1, +1 = 0
    CHECK(g.out_h(1, 5) <= 0);
}

// The column matrix is built and consumed a chunk of rows at a time. Chunks of 1, 2 and 7 rows
// split the (c, r, s) rows mid-filter and mid-channel, and the last case gets several chunks from
// the default L2 sizing; outputs come from the poisoned allocator (tests/main.cpp), so an element
// a chunk fails to assign stays NaN and fails the comparison.
TEST_CASE_TEMPLATE("conv2d column chunks match naive loops with 1 and 2 threads", T, float, double) {
    std::vector<Problem> ps = problems();
    ps.push_back({2, 37, 25, 25, 4, 3, 3, geom(1, 1, 1, 1, 1, 1, 1), "several default chunks"});
    const int saved = omp_get_max_threads();
    for (const i64 chunk : {i64(1), i64(2), i64(7), i64(0)}) {
        gs::kernels::cpu::set_conv2d_column_chunk(chunk);
        for (const Problem& p : ps) {
            if (chunk != 0 && p.C > 8) continue;  // the big case is there for the default sizing
            CAPTURE(chunk);
            CAPTURE(p.name);
            gs::Generator gen(31);
            const Reference ref(p);
            const Inputs<T> in(p, ref, gen);
            const Tensor &x = in.x, &w = in.w, &b = in.b, &dy = in.dy;
            const auto &xv = in.xv, &wv = in.wv, &bv = in.bv, &dyv = in.dyv;
            const auto y_ref = ref.forward(xv, wv, bv), dx_ref = ref.backward_input(dyv, wv),
                       dw_ref = ref.backward_weight(dyv, xv);
            std::vector<std::vector<T>> runs[2];
            for (int threads : {1, 2}) {
                CAPTURE(threads);
                omp_set_num_threads(threads);
                Tensor y = gs::kernels::conv2d_forward(x, w, b, p.g);
                Tensor dx = gs::kernels::conv2d_backward_input(dy, w, x.shape(), p.g);
                Tensor dw = gs::kernels::conv2d_backward_weight(dy, x, w.shape(), p.g);
                // Sums of up to C*R*S = 333 products of values in [-1, 1] (N*OH*OW = 1250 for dw):
                // float keeps ~1e-4 absolute on those, double ~1e-12.
                const double t = sizeof(T) == 4 ? 2e-4 : 1e-11;
                CHECK(max_abs_diff(y, y_ref) <= t);
                CHECK(max_abs_diff(dx, dx_ref) <= t);
                CHECK(max_abs_diff(dw, dw_ref) <= t * f25_factor<T>(p));
                runs[threads - 1] = {y.template to_vector<T>(), dx.template to_vector<T>(), dw.template to_vector<T>()};
            }
            // Images and dw chunks are split by shape alone, never by the thread count.
            CHECK(runs[0] == runs[1]);
        }
    }
    gs::kernels::cpu::set_conv2d_column_chunk(0);
    omp_set_num_threads(saved);
}

// The forward and (for unit strides) the input gradient multiply gemm's micro-kernels directly, so
// their panel edges move with the ISA's register tile: every runnable ISA against the reference.
TEST_CASE_TEMPLATE("conv2d matches naive loops on every gemm ISA", T, float, double) {
    using gs::kernels::cpu::GemmIsa;
    const GemmIsa saved = gs::kernels::cpu::gemm_isa();
    for (GemmIsa isa : {GemmIsa::generic, GemmIsa::avx2, GemmIsa::avx512}) {
        if (!gs::kernels::cpu::gemm_isa_supported(isa)) {
            const std::string note =
                std::string("conv2d: this CPU cannot run the ") + gs::kernels::cpu::gemm_isa_name(isa) + " kernels; not tested";
            MESSAGE(note);
            continue;
        }
        gs::kernels::cpu::set_gemm_isa(isa);
        gs::Generator gen(41);
        for (const Problem& p : problems()) {
            CAPTURE(p.name);
            CAPTURE(gs::kernels::cpu::gemm_isa_name(isa));
            const Reference ref(p);
            const Inputs<T> in(p, ref, gen);
            CHECK(max_abs_diff(gs::kernels::conv2d_forward(in.x, in.w, in.b, p.g), ref.forward(in.xv, in.wv, in.bv)) <=
                  tol<T>(p));
            CHECK(max_abs_diff(gs::kernels::conv2d_backward_input(in.dy, in.w, in.x.shape(), p.g),
                               ref.backward_input(in.dyv, in.wv)) <= tol<T>(p));
        }
    }
    gs::kernels::cpu::set_gemm_isa(saved);
}

// The Winograd cases above against im2col, forward and both gradients: both near the reference,
// and not bitwise equal (so the Winograd path really ran; its sums are ordered differently).
TEST_CASE_TEMPLATE("conv2d Winograd F(2x2 3x3) and F(2x2 5x5) agree with im2col", T, float, double) {
    gs::Generator gen(43);
    for (const Problem& p : problems()) {
        if (std::string(p.name).rfind("winograd", 0) != 0) continue;
        CAPTURE(p.name);
        const Reference ref(p);
        const Inputs<T> in(p, ref, gen);
        const Tensor &x = in.x, &w = in.w, &b = in.b, &dy = in.dy;
        std::vector<T> y[2], dx[2], dw[2];
        for (const bool winograd : {false, true}) {
            gs::kernels::cpu::set_conv2d_winograd(winograd);
            y[winograd] = gs::kernels::conv2d_forward(x, w, b, p.g).template to_vector<T>();
            dx[winograd] = gs::kernels::conv2d_backward_input(dy, w, x.shape(), p.g).template to_vector<T>();
            dw[winograd] = gs::kernels::conv2d_backward_weight(dy, x, w.shape(), p.g).template to_vector<T>();
        }
        gs::kernels::cpu::set_conv2d_winograd(true);
        CHECK(y[0] != y[1]);
        CHECK(dx[0] != dx[1]);
        // Fewer than 128 tiles leave the weight gradient to im2col (winograd_backward_weight_applies).
        const bool dw_winograd = std::string(p.name).find("im2col weight") == std::string::npos;
        CHECK((dw[0] != dw[1]) == dw_winograd);
        const auto y_ref = ref.forward(in.xv, in.wv, in.bv);
        const auto dx_ref = ref.backward_input(in.dyv, in.wv), dw_ref = ref.backward_weight(in.dyv, in.xv);
        // dw sums N*OH*OW*... up to 5*13*11 = 715 products per element, over the tiles in blocks:
        // float keeps ~1e-4 absolute there (as in the column-chunk test), double ~1e-11.
        const double dw_tol = (sizeof(T) == 4 ? 2e-4 : 1e-11) * f25_factor<T>(p);
        for (int i = 0; i < 2; ++i) {
            CHECK(max_abs_diff(std::vector<double>(y[i].begin(), y[i].end()), y_ref) <= tol<T>(p));
            CHECK(max_abs_diff(std::vector<double>(dx[i].begin(), dx[i].end()), dx_ref) <= tol<T>(p));
            CHECK(max_abs_diff(std::vector<double>(dw[i].begin(), dw[i].end()), dw_ref) <= dw_tol);
        }
    }
}
