// kernels/per_example.h against naive loops: per-example weight/bias gradients of Linear (with and
// without extra dims), Conv2d (stride, padding, dilation, groups) and eval-mode BatchNorm; norms and
// Gram by both methods (patches vs materialize) against the naive per-example gradients, with tiny
// budgets that force chunking; moments; the method choice; error messages. Each comparison runs on
// both backends: the CPU loops and the composite path that CUDA tensors take (here on CPU tensors).
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <vector>

#include "composite_path.h"
#include "kernels/per_example.h"
#include "test_util.h"

using namespace gs;
using namespace gs::kernels;
using i64 = std::int64_t;

namespace {

// Tolerance relative to the largest magnitude: f64 sums of a few hundred terms stay near 1e-15
// relative; f32 ones near 1e-6 (GEMM blocking changes the summation order versus the loops).
template <class T>
double rel_tol() {
    return std::is_same_v<T, double> ? 1e-11 : 2e-5;
}

template <class T>
void check_close(const Tensor& got, const std::vector<double>& want, const char* what) {
    const std::string what_s = what;
    CAPTURE(what_s);
    const std::vector<double> g = got.to_vector<double>();
    REQUIRE(g.size() == want.size());
    double scale = 1e-30;
    for (double w : want) scale = std::max(scale, std::abs(w));
    double worst = 0;
    std::size_t at = 0;
    for (std::size_t i = 0; i < g.size(); ++i) {
        const double e = std::abs(g[i] - want[i]);
        if (!(e <= worst)) worst = e, at = i;
    }
    CAPTURE(at);
    CHECK(worst <= rel_tol<T>() * scale);
}

// Naive per-example rows (B, n) -> squared norms and Gram.
std::vector<double> naive_norms(const std::vector<double>& rows, i64 B) {
    const i64 n = B ? i64(rows.size()) / B : 0;
    std::vector<double> out(std::size_t(B), 0.0);
    for (i64 i = 0; i < B; ++i)
        for (i64 k = 0; k < n; ++k) out[std::size_t(i)] += rows[std::size_t(i * n + k)] * rows[std::size_t(i * n + k)];
    return out;
}

std::vector<double> naive_gram(const std::vector<double>& rows, i64 B) {
    const i64 n = B ? i64(rows.size()) / B : 0;
    std::vector<double> out(std::size_t(B * B), 0.0);
    for (i64 i = 0; i < B; ++i)
        for (i64 j = 0; j < B; ++j)
            for (i64 k = 0; k < n; ++k)
                out[std::size_t(i * B + j)] += rows[std::size_t(i * n + k)] * rows[std::size_t(j * n + k)];
    return out;
}

// rows (B, nw) and (B, nb) -> (B, nw + nb).
std::vector<double> join(const std::vector<double>& w, const std::vector<double>& b, i64 B) {
    const i64 nw = i64(w.size()) / B, nb = i64(b.size()) / B;
    std::vector<double> out;
    for (i64 i = 0; i < B; ++i) {
        out.insert(out.end(), w.begin() + i * nw, w.begin() + (i + 1) * nw);
        out.insert(out.end(), b.begin() + i * nb, b.begin() + (i + 1) * nb);
    }
    return out;
}

std::vector<double> col_sums(const std::vector<double>& rows, i64 B, bool square) {
    const i64 n = i64(rows.size()) / B;
    std::vector<double> out(std::size_t(n), 0.0);
    for (i64 i = 0; i < B; ++i)
        for (i64 k = 0; k < n; ++k) {
            const double v = rows[std::size_t(i * n + k)];
            out[std::size_t(k)] += square ? v * v : v;
        }
    return out;
}

using test::CompositePath;

// Doctest runs a test case once per leaf SUBCASE: the first run on the CPU loops, the second on the
// composite path. Returns which one this run is.
#define GS_BOTH_BACKENDS(flag)            \
    bool flag = false;                    \
    SUBCASE("cpu loops") {}               \
    SUBCASE("composite") { flag = true; } \
    CAPTURE(flag);                        \
    const CompositePath composite_path_(flag)

const std::vector<PerExampleConfig> kConfigs = {
    {PerExampleMethod::automatic, kPerExampleDefaultBudget},
    {PerExampleMethod::materialize, kPerExampleDefaultBudget},
    {PerExampleMethod::patches, kPerExampleDefaultBudget},
    // Budgets of a few elements: one example per chunk, one example per patch block.
    {PerExampleMethod::materialize, 7},
    {PerExampleMethod::patches, 7},
};

// Checks norms, Gram and moments of one layer (through callables) against naive rows. With
// `patches_refused` (Conv2d on the composite path) a forced patches method must throw instead.
template <class T, class Norms, class Gram, class Moments>
void check_reductions(const std::vector<double>& gw, const std::vector<double>& gb, i64 B, Norms norms, Gram gram,
                      Moments moments, bool patches_refused = false) {
    for (const PerExampleConfig& cfg : kConfigs) {
        const std::string method_name = per_example_method_name(cfg.method);
        CAPTURE(method_name);
        CAPTURE(cfg.budget);
        if (patches_refused && cfg.method == PerExampleMethod::patches) {
            const auto refused = doctest::Contains("the patches method needs the CPU kernels");
            CHECK_THROWS_WITH_AS(norms(true, true, cfg), refused, gs::Error);
            CHECK_THROWS_WITH_AS(gram(true, false, cfg), refused, gs::Error);
            CHECK_THROWS_WITH_AS(moments(false, true, cfg), refused, gs::Error);
            continue;
        }
        for (int sel = 1; sel < 4; ++sel) {
            const bool w = sel & 1, b = sel & 2;
            CAPTURE(w);
            CAPTURE(b);
            const std::vector<double> rows = w && b ? join(gw, gb, B) : w ? gw : gb;
            check_close<T>(norms(w, b, cfg), naive_norms(rows, B), "norms");
            check_close<T>(gram(w, b, cfg), naive_gram(rows, B), "gram");
            const PerExampleMoments m = moments(w, b, cfg);
            if (w) {
                check_close<T>(m.sum_weight, col_sums(gw, B, false), "sum weight");
                check_close<T>(m.sum_sq_weight, col_sums(gw, B, true), "sum_sq weight");
            }
            if (b) {
                check_close<T>(m.sum_bias, col_sums(gb, B, false), "sum bias");
                check_close<T>(m.sum_sq_bias, col_sums(gb, B, true), "sum_sq bias");
            }
            CHECK(m.sum_weight.defined() == w);
            CHECK(m.sum_bias.defined() == b);
        }
    }
}

}  // namespace

TEST_CASE_TEMPLATE("per_example kernels: linear matches naive loops", T, float, double) {
    GS_BOTH_BACKENDS(composite);
    struct Case {
        i64 B, P, I, O;
        bool extra;  // (B, P, I) input instead of (B, I)
    };
    for (const Case& c : {Case{7, 1, 33, 5, false}, Case{1, 1, 3, 1, false}, Case{5, 3, 9, 4, true}, Case{4, 7, 2, 3, true}}) {
        CAPTURE(c.B);
        CAPTURE(c.P);
        const Shape as = c.extra ? Shape{c.B, c.P, c.I} : Shape{c.B, c.I};
        const Shape ds = c.extra ? Shape{c.B, c.P, c.O} : Shape{c.B, c.O};
        const Tensor a = test::randn<T>(as, 11), d = test::randn<T>(ds, 12);
        const std::vector<double> av = a.to_vector<double>(), dv = d.to_vector<double>();
        std::vector<double> gw(std::size_t(c.B * c.O * c.I), 0.0), gb(std::size_t(c.B * c.O), 0.0);
        for (i64 i = 0; i < c.B; ++i)
            for (i64 p = 0; p < c.P; ++p)
                for (i64 o = 0; o < c.O; ++o) {
                    const double dd = dv[std::size_t((i * c.P + p) * c.O + o)];
                    gb[std::size_t(i * c.O + o)] += dd;
                    for (i64 k = 0; k < c.I; ++k)
                        gw[std::size_t((i * c.O + o) * c.I + k)] += dd * av[std::size_t((i * c.P + p) * c.I + k)];
                }
        const Tensor got_w = linear_per_example_grad_weight(a, d);
        CHECK(got_w.shape() == Shape{c.B, c.O, c.I});
        check_close<T>(got_w, gw, "grad weight");
        check_close<T>(linear_per_example_grad_bias(d), gb, "grad bias");
        check_reductions<T>(
            gw, gb, c.B, [&](bool w, bool b, const PerExampleConfig& cfg) { return linear_per_example_sq_norms(a, d, w, b, cfg); },
            [&](bool w, bool b, const PerExampleConfig& cfg) { return linear_per_example_gram(a, d, w, b, cfg); },
            [&](bool w, bool b, const PerExampleConfig& cfg) { return linear_per_example_moments(a, d, w, b, cfg); });
    }
}

TEST_CASE_TEMPLATE("per_example kernels: linear gradients large enough to be streamed are d a^T exactly", T, float, double) {
    // B * O * I elements above the 32 MB streaming threshold (non-temporal stores), with I odd so
    // rows start at every alignment; each entry is one product, so the match is exact.
    const i64 B = 48, O = 200, I = 1001;
    const Tensor a = test::randn<T>({B, I}, 13), d = test::randn<T>({B, O}, 14);
    const Tensor g = linear_per_example_grad_weight(a, d);
    const T* av = a.data<T>();
    const T* dv = d.data<T>();
    const T* gv = g.data<T>();
    i64 wrong = 0;
    for (i64 i = 0; i < B; ++i)
        for (i64 o = 0; o < O; ++o)
            for (i64 k = 0; k < I; ++k) wrong += gv[(i * O + o) * I + k] != dv[i * O + o] * av[i * I + k];
    CHECK(wrong == 0);
}

TEST_CASE_TEMPLATE("per_example kernels: conv2d matches naive loops", T, float, double) {
    GS_BOTH_BACKENDS(composite);
    struct Case {
        i64 B, C, H, W, K, R, S;
        Conv2dGeometry g;
    };
    auto geom = [](i64 s, i64 p, i64 dil, i64 groups) {
        Conv2dGeometry g;
        g.stride_h = g.stride_w = s;
        g.pad_h = g.pad_w = p;
        g.dil_h = g.dil_w = dil;
        g.groups = groups;
        return g;
    };
    Conv2dGeometry asym = geom(1, 0, 1, 1);
    asym.stride_w = 2, asym.pad_h = 2, asym.dil_w = 2;
    for (const Case& c : {Case{3, 2, 5, 5, 4, 3, 3, geom(1, 0, 1, 1)}, Case{4, 3, 7, 6, 5, 3, 3, geom(2, 1, 1, 1)},
                         Case{2, 2, 7, 7, 3, 3, 2, geom(1, 2, 2, 1)}, Case{3, 4, 5, 5, 6, 3, 3, geom(1, 1, 1, 2)},
                         Case{2, 4, 4, 4, 4, 1, 1, geom(1, 0, 1, 4)}, Case{3, 2, 6, 7, 3, 2, 3, asym},
                         // 16 channels and 132 output tiles per image: each example's weight
                         // gradient runs the Winograd kernel.
                         Case{2, 16, 24, 22, 16, 3, 3, geom(1, 1, 1, 1)}}) {
        const Conv2dGeometry& g = c.g;
        CAPTURE(g.str());
        const i64 Cg = c.C / g.groups, Kg = c.K / g.groups, OH = g.out_h(c.H, c.R), OW = g.out_w(c.W, c.S);
        const Shape ws{c.K, Cg, c.R, c.S};
        const Tensor x = test::randn<T>({c.B, c.C, c.H, c.W}, 21), dy = test::randn<T>({c.B, c.K, OH, OW}, 22);
        const std::vector<double> xv = x.to_vector<double>(), dv = dy.to_vector<double>();
        const i64 nw = c.K * Cg * c.R * c.S;
        std::vector<double> gw(std::size_t(c.B * nw), 0.0), gb(std::size_t(c.B * c.K), 0.0);
        for (i64 i = 0; i < c.B; ++i)
            for (i64 k = 0; k < c.K; ++k)
                for (i64 oh = 0; oh < OH; ++oh)
                    for (i64 ow = 0; ow < OW; ++ow) {
                        const double dd = dv[std::size_t(((i * c.K + k) * OH + oh) * OW + ow)];
                        gb[std::size_t(i * c.K + k)] += dd;
                        for (i64 ci = 0; ci < Cg; ++ci)
                            for (i64 r = 0; r < c.R; ++r)
                                for (i64 s = 0; s < c.S; ++s) {
                                    const i64 ih = g.in_h(oh, r), iw = g.in_w(ow, s);
                                    if (ih < 0 || ih >= c.H || iw < 0 || iw >= c.W) continue;
                                    const i64 ch = (k / Kg) * Cg + ci;
                                    gw[std::size_t(i * nw + ((k * Cg + ci) * c.R + r) * c.S + s)] +=
                                        dd * xv[std::size_t(((i * c.C + ch) * c.H + ih) * c.W + iw)];
                                }
                    }
        const Tensor got = conv2d_per_example_grad_weight(x, dy, ws, g);
        CHECK(got.shape() == Shape{c.B, c.K, Cg, c.R, c.S});
        check_close<T>(got, gw, "grad weight");
        check_close<T>(conv2d_per_example_grad_bias(dy), gb, "grad bias");
        check_reductions<T>(
            gw, gb, c.B,
            [&](bool w, bool b, const PerExampleConfig& cfg) { return conv2d_per_example_sq_norms(x, dy, ws, g, w, b, cfg); },
            [&](bool w, bool b, const PerExampleConfig& cfg) { return conv2d_per_example_gram(x, dy, ws, g, w, b, cfg); },
            [&](bool w, bool b, const PerExampleConfig& cfg) { return conv2d_per_example_moments(x, dy, ws, g, w, b, cfg); },
            composite);
    }
}

TEST_CASE_TEMPLATE("per_example kernels: batch norm eval matches naive loops", T, float, double) {
    GS_BOTH_BACKENDS(composite);
    for (const Shape& xs : {Shape{5, 3}, Shape{3, 4, 5, 6}}) {
        CAPTURE(shape_str(xs));
        const i64 B = xs[0], C = xs[1], S = numel(xs) / (B * C);
        const Tensor x = test::randn<T>(xs, 31), dy = test::randn<T>(xs, 32);
        const Tensor mean = test::randn<T>({C}, 33);
        Tensor var = test::randn<T>({C}, 34);
        std::vector<T> vv = var.to_vector<T>();
        for (T& v : vv) v = v * v + T(0.5);
        var = Tensor::from_vector(vv, {C});
        const double eps = 1e-3;
        const std::vector<double> xv = x.to_vector<double>(), dv = dy.to_vector<double>(),
                                  mv = mean.to_vector<double>(), varv = var.to_vector<double>();
        std::vector<double> gg(std::size_t(B * C), 0.0), gb(std::size_t(B * C), 0.0);
        for (i64 i = 0; i < B; ++i)
            for (i64 c = 0; c < C; ++c)
                for (i64 s = 0; s < S; ++s) {
                    const std::size_t e = std::size_t((i * C + c) * S + s);
                    const double xhat = (xv[e] - mv[std::size_t(c)]) / std::sqrt(varv[std::size_t(c)] + eps);
                    gg[std::size_t(i * C + c)] += dv[e] * xhat;
                    gb[std::size_t(i * C + c)] += dv[e];
                }
        check_close<T>(batch_norm_per_example_grad_weight(x, dy, mean, var, eps), gg, "grad gamma");
        check_close<T>(batch_norm_per_example_grad_bias(dy), gb, "grad beta");
    }
}

TEST_CASE_TEMPLATE("per_example kernels: row norms and gram", T, float, double) {
    GS_BOTH_BACKENDS(composite);
    const Tensor g = test::randn<T>({9, 37}, 41);
    const std::vector<double> gv = g.to_vector<double>();
    check_close<T>(per_example_row_sq_norms(g), naive_norms(gv, 9), "row norms");
    check_close<T>(per_example_row_gram(g), naive_gram(gv, 9), "row gram");
}

TEST_CASE("per_example kernels: method choice follows the flop model") {
    // Linear without extra dims: the patch formula is O(I + O) per example against O(I * O).
    const PatchShape lin{128, 1, 784, 512, 1};
    CHECK(choose_norms_method(lin, {}) == PerExampleMethod::patches);
    CHECK(choose_gram_method(lin, {}) == PerExampleMethod::patches);
    // A 5x5 conv on 14x14 outputs: P^2 = 38416 pairs of positions dwarf K*C*R*S = 102400 weights per
    // Gram entry, so the Gram materializes.
    const PatchShape conv{500, 196, 64 * 25, 64, 1};
    CHECK(choose_gram_method(conv, {}) == PerExampleMethod::materialize);
    const PerExampleCost c = per_example_cost(conv, kPerExampleDefaultBudget);
    CHECK(c.gram_materialize < c.gram_patches);
    // Forced methods are returned as given.
    CHECK(choose_gram_method(conv, {PerExampleMethod::patches, 1}) == PerExampleMethod::patches);
}

TEST_CASE("per_example kernels: errors name the op and the shapes") {
    const Tensor a = Tensor::zeros({4, 3}, DType::f64), d = Tensor::zeros({5, 2}, DType::f64);
    CHECK_THROWS_WITH_AS(linear_per_example_grad_weight(a, d), doctest::Contains("linear_per_example_grad_weight"), gs::Error);
    CHECK_THROWS_WITH_AS(linear_per_example_sq_norms(a, Tensor::zeros({4, 2}, DType::f32), true, true),
                         doctest::Contains("f32 or two f64"), gs::Error);
    const Tensor x = Tensor::zeros({2, 3, 5, 5}, DType::f32), dy = Tensor::zeros({2, 4, 4, 4}, DType::f32);
    CHECK_THROWS_WITH_AS(conv2d_per_example_gram(x, dy, {4, 3, 3, 3}, Conv2dGeometry{}, true, true),
                         doctest::Contains("does not match the convolution output"), gs::Error);
    CHECK_THROWS_WITH_AS(batch_norm_per_example_grad_weight(x, x, Tensor::zeros({2}), Tensor::ones({3}), 1e-5),
                         doctest::Contains("running statistics"), gs::Error);
    CHECK_THROWS_WITH_AS(linear_per_example_gram(a, Tensor::zeros({4, 2}, DType::f64), true, true,
                                                 {PerExampleMethod::automatic, 0}),
                         doctest::Contains("budget"), gs::Error);
}

TEST_CASE("per_example kernels: empty batch") {
    GS_BOTH_BACKENDS(composite);
    const Tensor a = Tensor::zeros({0, 3}, DType::f64), d = Tensor::zeros({0, 2}, DType::f64);
    CHECK(linear_per_example_grad_weight(a, d).shape() == Shape{0, 2, 3});
    CHECK(linear_per_example_sq_norms(a, d, true, true).numel() == 0);
    CHECK(linear_per_example_gram(a, d, true, true).numel() == 0);
    const PerExampleMoments m = linear_per_example_moments(a, d, true, true);
    CHECK(m.sum_sq_weight.to_vector<double>() == std::vector<double>(6, 0.0));
}

TEST_CASE("per_example kernels: gram methods agree beyond one block of examples") {
    // B > 256 crosses the materialized Gram's row blocks; a small budget splits the parameter
    // blocks and the patch blocks too. f64: the two methods differ only in summation order.
    const Tensor a = test::randn<double>({300, 5}, 51), d = test::randn<double>({300, 3}, 52);
    for (i64 budget : {kPerExampleDefaultBudget, i64(2000)}) {
        CAPTURE(budget);
        const Tensor gm = linear_per_example_gram(a, d, true, true, {PerExampleMethod::materialize, budget});
        const Tensor gp = linear_per_example_gram(a, d, true, true, {PerExampleMethod::patches, budget});
        check_close<double>(gm, gp.to_vector<double>(), "linear gram");
    }
    Conv2dGeometry g;
    g.pad_h = g.pad_w = 1;
    const Tensor x = test::randn<double>({260, 2, 4, 4}, 53), dy = test::randn<double>({260, 4, 4, 4}, 54);
    const Shape ws{4, 2, 3, 3};
    // Patches once, with blocks of 22 examples (tiny blocks are covered above; huge ones cost memory).
    const Tensor gp = conv2d_per_example_gram(x, dy, ws, g, true, true, {PerExampleMethod::patches, i64(1) << 18});
    for (i64 budget : {kPerExampleDefaultBudget, i64(3000)}) {
        CAPTURE(budget);
        const Tensor gm = conv2d_per_example_gram(x, dy, ws, g, true, true, {PerExampleMethod::materialize, budget});
        check_close<double>(gm, gp.to_vector<double>(), "conv gram");
        // And the diagonal is the squared norms.
        const Tensor n = conv2d_per_example_sq_norms(x, dy, ws, g, true, true, {PerExampleMethod::materialize, budget});
        std::vector<double> diag;
        for (i64 i = 0; i < 260; ++i) diag.push_back(gp.at<double>({i, i}));
        check_close<double>(n, diag, "conv norms vs gram diagonal");
    }
    // The materialized conv Gram blocks over whole input channels: 3 channels per group with room
    // for 2 per block (budget / 2 / (B * Og * R * S) = 2) gives a full block and a partial one.
    for (i64 groups : {1, 2}) {
        CAPTURE(groups);
        Conv2dGeometry gg = g;
        gg.groups = groups;
        const i64 C = 3 * groups, K = 4, B = 20;
        const Tensor xs = test::randn<double>({B, C, 4, 4}, 55), dys = test::randn<double>({B, K, 4, 4}, 56);
        const Shape wsg{K, 3, 3, 3};
        const i64 budget = 2 * 2 * B * (K / groups) * 9;
        const Tensor ref = conv2d_per_example_gram(xs, dys, wsg, gg, true, true, {PerExampleMethod::patches, i64(1) << 18});
        const Tensor gm = conv2d_per_example_gram(xs, dys, wsg, gg, true, true, {PerExampleMethod::materialize, budget});
        check_close<double>(gm, ref.to_vector<double>(), "conv gram, channel blocks");
        const Tensor wonly = conv2d_per_example_gram(xs, dys, wsg, gg, true, false, {PerExampleMethod::materialize, budget});
        const Tensor wref = conv2d_per_example_gram(xs, dys, wsg, gg, true, false, {PerExampleMethod::patches, i64(1) << 18});
        check_close<double>(wonly, wref.to_vector<double>(), "conv gram, weight only, channel blocks");
    }
}

TEST_CASE("per_example kernels: into variants fill a column slice and nothing else") {
    GS_BOTH_BACKENDS(composite);
    // A (B, 2 + n + 3) matrix of NaN sentinels; the slice's columns get exactly the allocating
    // variant's values and the columns around it stay NaN.
    const Tensor a = test::randn<double>({5, 4}, 61), d = test::randn<double>({5, 3}, 62);
    auto check_slice = [](const Tensor& want, const std::function<void(Tensor&)>& fill) {
        const i64 B = want.size(0), n = want.numel() / B;
        Tensor big = Tensor::full({B, n + 5}, std::nan(""), DType::f64);
        Tensor cols = big.narrow(1, 2, n);
        fill(cols);
        CHECK(cols.contiguous().to_vector<double>() == want.reshape({B, n}).to_vector<double>());
        for (i64 i = 0; i < B; ++i)
            for (i64 j : {i64(0), i64(1), n + 2, n + 3, n + 4}) CHECK(std::isnan(big.at<double>({i, j})));
    };
    check_slice(linear_per_example_grad_weight(a, d), [&](Tensor& c) { linear_per_example_grad_weight_into(a, d, c); });
    check_slice(linear_per_example_grad_bias(d), [&](Tensor& c) { linear_per_example_grad_bias_into(d, c); });
    Conv2dGeometry g;
    g.stride_h = g.stride_w = 2;
    const Tensor x = test::randn<double>({3, 2, 5, 5}, 63), dy = test::randn<double>({3, 4, 2, 2}, 64);
    const Shape ws{4, 2, 3, 3};
    check_slice(conv2d_per_example_grad_weight(x, dy, ws, g), [&](Tensor& c) { conv2d_per_example_grad_weight_into(x, dy, ws, g, c); });
    check_slice(conv2d_per_example_grad_bias(dy), [&](Tensor& c) { conv2d_per_example_grad_bias_into(dy, c); });
    const Tensor m = test::randn<double>({4}, 65), v = Tensor::full({4}, 2.0, DType::f64);
    check_slice(batch_norm_per_example_grad_weight(dy, dy, m, v, 1e-5),
                [&](Tensor& c) { batch_norm_per_example_grad_weight_into(dy, dy, m, v, 1e-5, c); });
    check_slice(batch_norm_per_example_grad_bias(dy), [&](Tensor& c) { batch_norm_per_example_grad_bias_into(dy, c); });
    Tensor wrong = Tensor::empty({5, 11}, DType::f64);
    CHECK_THROWS_WITH_AS(linear_per_example_grad_weight_into(a, d, wrong), doctest::Contains("rows must be (5, 12)"), gs::Error);
}

TEST_CASE("per_example kernels: composite path blocks output channels within groups") {
    // Blocks of 3 output channels (budget / (B * Cg*R*S) = 3): with 4 channels per group a full block
    // and a partial one; with groups 2, one block per group, whose input channels are the group's.
    // The CPU loops are the reference; f64, so only the summation order differs.
    Conv2dGeometry g;
    g.pad_h = g.pad_w = 1;
    for (i64 groups : {1, 2}) {
        CAPTURE(groups);
        g.groups = groups;
        const i64 B = 20, Cg = 3, K = 4;
        const Tensor x = test::randn<double>({B, Cg * groups, 5, 4}, 57), dy = test::randn<double>({B, K, 5, 4}, 58);
        const Shape ws{K, Cg, 3, 3};
        const PerExampleConfig cfg{PerExampleMethod::materialize, B * Cg * 9 * 3};
        const Tensor grads = conv2d_per_example_grad_weight(x, dy, ws, g);
        const Tensor norms = conv2d_per_example_sq_norms(x, dy, ws, g, true, true, cfg);
        const Tensor gram = conv2d_per_example_gram(x, dy, ws, g, true, false, cfg);
        const PerExampleMoments m = conv2d_per_example_moments(x, dy, ws, g, true, true, cfg);
        const CompositePath path(true);
        check_close<double>(conv2d_per_example_grad_weight(x, dy, ws, g), grads.to_vector<double>(), "grads");
        check_close<double>(conv2d_per_example_sq_norms(x, dy, ws, g, true, true, cfg), norms.to_vector<double>(), "norms");
        check_close<double>(conv2d_per_example_gram(x, dy, ws, g, true, false, cfg), gram.to_vector<double>(), "gram");
        const PerExampleMoments c = conv2d_per_example_moments(x, dy, ws, g, true, true, cfg);
        check_close<double>(c.sum_weight, m.sum_weight.to_vector<double>(), "sum weight");
        check_close<double>(c.sum_sq_weight, m.sum_sq_weight.to_vector<double>(), "sum_sq weight");
        check_close<double>(c.sum_sq_bias, m.sum_sq_bias.to_vector<double>(), "sum_sq bias");
    }
}

TEST_CASE_TEMPLATE("per_example kernels: composite Gram matrices are exactly symmetric", T, float, double) {
    // The CPU loops mirror one triangle; the composite path sums (i, j) and (j, i) in separate
    // GEMMs (and blocks), so it symmetrizes. Linear with extra dims in blocks of 2 examples,
    // a materialized conv, and rows.
    const CompositePath path(true);
    auto symmetric = [](const Tensor& g) {
        return g.to_vector<double>() == g.t().contiguous().to_vector<double>();
    };
    const Tensor a = test::randn<T>({7, 3, 5}, 71), d = test::randn<T>({7, 3, 4}, 72);
    CHECK(symmetric(linear_per_example_gram(a, d, true, true, {PerExampleMethod::patches, 80})));
    CHECK(symmetric(linear_per_example_gram(a, d, true, false, {PerExampleMethod::materialize, 30})));
    Conv2dGeometry g;
    g.pad_h = g.pad_w = 1;
    const Tensor x = test::randn<T>({6, 2, 5, 5}, 73), dy = test::randn<T>({6, 3, 5, 5}, 74);
    CHECK(symmetric(conv2d_per_example_gram(x, dy, {3, 2, 3, 3}, g, true, true, {PerExampleMethod::automatic, 200})));
    CHECK(symmetric(per_example_row_gram(test::randn<T>({9, 13}, 75))));
}
