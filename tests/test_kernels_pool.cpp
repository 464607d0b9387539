// max/avg pooling forward and backward against naive loops, NaN propagation, overlapping windows,
// padding, and bad geometry.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

#include "kernels/pool.h"
#include "tensor/random.h"
#include "test_util.h"

namespace {

using gs::Shape;
using gs::Tensor;
using gs::kernels::Pool2dGeometry;
using i64 = std::int64_t;
using gs::test::max_abs_diff;

Pool2dGeometry geom(i64 kh, i64 kw, i64 sh, i64 sw, i64 ph, i64 pw) {
    Pool2dGeometry g;
    g.kernel_h = kh, g.kernel_w = kw, g.stride_h = sh, g.stride_w = sw, g.pad_h = ph, g.pad_w = pw;
    return g;
}

struct Case {
    Shape x;
    Pool2dGeometry g;
    const char* name;
};

std::vector<Case> cases() {
    return {
        {{2, 3, 8, 8}, geom(2, 2, 2, 2, 0, 0), "2x2 stride 2"},
        {{2, 3, 7, 9}, geom(3, 3, 2, 2, 1, 1), "3x3 stride 2 pad 1 (overlapping)"},
        {{1, 2, 9, 7}, geom(3, 2, 1, 2, 1, 1), "non-square"},
        {{3, 1, 5, 5}, geom(5, 5, 1, 1, 2, 2), "window as big as the input, max padding"},
        {{1, 1, 1, 1}, geom(1, 1, 1, 1, 0, 0), "1x1"},
        {{2, 5, 33, 7}, geom(4, 3, 3, 2, 2, 1), "odd sizes"},
        // One column wide, moving one column: the row-wise path (LocalResponseNorm's channel window).
        {{2, 1, 13, 33}, geom(9, 1, 1, 1, 4, 0), "column window 9x1 pad 4 (LRN)"},
        {{1, 3, 7, 5}, geom(4, 1, 2, 1, 2, 0), "column window 4x1 stride 2"},
        // 3x3 at column stride 2 on rows wide enough for f32's four-output vector path.
        {{2, 3, 13, 29}, geom(3, 3, 2, 2, 1, 1), "3x3 stride 2 pad 1, wide rows"},
        {{1, 2, 9, 24}, geom(3, 3, 1, 2, 0, 1), "3x3 stride (1, 2), wide rows"},
        // alexnet_small's pools (every output on the vector path, over a plane framed by -inf), and
        // rows of 4 to 6 outputs (the last four overlap the first).
        {{2, 3, 28, 28}, geom(3, 3, 2, 2, 1, 1), "3x3 stride 2 pad 1, 28x28"},
        {{2, 3, 14, 14}, geom(3, 3, 2, 2, 1, 1), "3x3 stride 2 pad 1, 14x14"},
        {{1, 2, 11, 9}, geom(3, 3, 2, 2, 1, 1), "3x3 stride 2 pad 1, 5 outputs a row"},
        {{1, 2, 6, 8}, geom(3, 3, 3, 2, 0, 0), "3x3 stride (3, 2), 3 outputs a row"},
    };
}

// Naive reference over windows; calls f(plane, out_index, list of in-plane indices in the window).
template <class F>
void for_each_window(const Shape& xs, const Pool2dGeometry& g, F f) {
    const i64 H = xs[2], W = xs[3], OH = g.out_h(H), OW = g.out_w(W);
    for (i64 p = 0; p < xs[0] * xs[1]; ++p)
        for (i64 oh = 0; oh < OH; ++oh)
            for (i64 ow = 0; ow < OW; ++ow) {
                std::vector<i64> idx;
                for (i64 i = 0; i < g.kernel_h; ++i)
                    for (i64 j = 0; j < g.kernel_w; ++j) {
                        const i64 h = oh * g.stride_h - g.pad_h + i, w = ow * g.stride_w - g.pad_w + j;
                        if (h >= 0 && h < H && w >= 0 && w < W) idx.push_back(h * W + w);
                    }
                f(p, (p * OH + oh) * OW + ow, idx);
            }
}

// A few additions of values in [-1, 1] and one division.
template <class T>
double tol() {
    return sizeof(T) == 4 ? 1e-6 : 1e-14;
}

}  // namespace

TEST_CASE_TEMPLATE("max_pool2d matches a naive loop", T, float, double) {
    gs::Generator gen(31);
    for (const Case& c : cases()) {
        CAPTURE(c.name);
        // A permutation of distinct values: no ties, so the chosen index is unique.
        const i64 n = gs::numel(c.x);
        Tensor x = gs::randperm(n, gen).to(gs::dtype_of<T>()).view(c.x);
        const auto xv = x.template to_vector<double>();
        auto [y, idx] = gs::kernels::max_pool2d_forward(x, c.g);
        const i64 plane = c.x[2] * c.x[3];
        std::vector<double> ref_y(std::size_t(y.numel()));
        std::vector<double> ref_i(std::size_t(y.numel()));
        for_each_window(c.x, c.g, [&](i64 p, i64 o, const std::vector<i64>& w) {
            i64 best = w[0];
            for (i64 i : w)
                if (xv[std::size_t(p * plane + i)] > xv[std::size_t(p * plane + best)]) best = i;
            ref_y[std::size_t(o)] = xv[std::size_t(p * plane + best)];
            ref_i[std::size_t(o)] = double(best);
        });
        CHECK(idx.dtype() == gs::DType::i64);
        CHECK(max_abs_diff(y, ref_y) == 0.0);
        CHECK(max_abs_diff(idx, ref_i) == 0.0);

        Tensor dy = gs::uniform(y.shape(), gen, -1.0, 1.0, gs::dtype_of<T>());
        const auto dyv = dy.template to_vector<double>();
        std::vector<double> ref_dx(std::size_t(n), 0.0);
        for (i64 o = 0; o < y.numel(); ++o)
            ref_dx[std::size_t((o / (y.size(2) * y.size(3))) * plane + i64(ref_i[std::size_t(o)]))] += dyv[std::size_t(o)];
        Tensor dx = gs::kernels::max_pool2d_backward(dy, idx, c.x);
        CHECK(dx.shape() == c.x);
        CHECK(max_abs_diff(dx, ref_dx) <= tol<T>());
        // The unchecked path (autograd's, for the forward's own indices) computes the same.
        Tensor dx_forward = gs::kernels::max_pool2d_backward(dy, idx, c.x, c.g);
        CHECK(max_abs_diff(dx_forward, ref_dx) <= tol<T>());
    }
}

TEST_CASE_TEMPLATE("avg_pool2d matches a naive loop with and without counting padding", T, float, double) {
    gs::Generator gen(32);
    for (bool include_pad : {false, true})
        for (const Case& c : cases()) {
            CAPTURE(c.name);
            CAPTURE(include_pad);
            Tensor x = gs::uniform(c.x, gen, -1.0, 1.0, gs::dtype_of<T>());
            const auto xv = x.template to_vector<double>();
            Tensor y = gs::kernels::avg_pool2d_forward(x, c.g, include_pad);
            Tensor dy = gs::uniform(y.shape(), gen, -1.0, 1.0, gs::dtype_of<T>());
            const auto dyv = dy.template to_vector<double>();
            const i64 plane = c.x[2] * c.x[3];
            std::vector<double> ref_y(std::size_t(y.numel())), ref_dx(std::size_t(x.numel()), 0.0);
            for_each_window(c.x, c.g, [&](i64 p, i64 o, const std::vector<i64>& w) {
                const double div = include_pad ? double(c.g.kernel_h * c.g.kernel_w) : double(w.size());
                double s = 0;
                for (i64 i : w) s += xv[std::size_t(p * plane + i)];
                ref_y[std::size_t(o)] = s / div;
                for (i64 i : w) ref_dx[std::size_t(p * plane + i)] += dyv[std::size_t(o)] / div;
            });
            CHECK(max_abs_diff(y, ref_y) <= tol<T>());
            Tensor dx = gs::kernels::avg_pool2d_backward(dy, c.x, c.g, include_pad);
            CHECK(max_abs_diff(dx, ref_dx) <= 4 * tol<T>());  // up to kernel-area overlapping shares
        }
}

// Ties and NaNs on every path (f32 takes four outputs at a time on the wide 3x3 stride-2 rows):
// each output must be the first maximum of its window in row-major order, or its first NaN.
TEST_CASE_TEMPLATE("max_pool2d keeps the first maximum on ties and the first NaN", T, float, double) {
    gs::Generator gen(34);
    for (const Case& c : cases()) {
        CAPTURE(c.name);
        const i64 n = gs::numel(c.x);
        std::vector<T> v(static_cast<std::size_t>(n));
        const std::vector<std::int64_t> r = gs::randint({n}, gen, 0, 3).template to_vector<std::int64_t>();
        const std::vector<std::int64_t> q = gs::randint({n}, gen, 0, 53).template to_vector<std::int64_t>();
        for (i64 i = 0; i < n; ++i)  // values 0, 1, 2 (many ties), -inf and NaN now and then
            v[std::size_t(i)] = q[std::size_t(i)] == 0   ? std::numeric_limits<T>::quiet_NaN()
                                : q[std::size_t(i)] == 1 ? -std::numeric_limits<T>::infinity()
                                                         : T(r[std::size_t(i)]);
        const Tensor x = Tensor::from_vector<T>(v, c.x);
        auto [y, idx] = gs::kernels::max_pool2d_forward(x, c.g);
        const i64 plane = c.x[2] * c.x[3];
        const std::vector<double> yv = y.template to_vector<double>();
        const std::vector<std::int64_t> iv = idx.template to_vector<std::int64_t>();
        bool ok = true;
        for_each_window(c.x, c.g, [&](i64 p, i64 o, const std::vector<i64>& w) {
            i64 best = w[0];
            for (i64 i : w) {
                const T a = v[std::size_t(p * plane + i)], b = v[std::size_t(p * plane + best)];
                if (b != b) break;  // a NaN was found first: it stays
                if (a != a || a > b) best = i;
            }
            const double want = double(v[std::size_t(p * plane + best)]);
            const bool same = iv[std::size_t(o)] == best && gs::test::same_or_both_nan(yv[std::size_t(o)], want);
            if (!same && ok) {
                INFO("output ", o, ": index ", iv[std::size_t(o)], " want ", best);
                CHECK(same);
                ok = false;
            }
        });
        CHECK(ok);
    }
}

TEST_CASE_TEMPLATE("max_pool2d propagates NaN", T, float, double) {
    const T nan = std::numeric_limits<T>::quiet_NaN();
    // One 1x1x2x4 input, windows 2x2 stride 2: the NaN sits in the second position of window 0,
    // and in the last position of window 1 (after larger values).
    Tensor x = Tensor::from_vector<T>({1, nan, 5, 6, 3, 4, 7, nan}, {1, 1, 2, 4});
    auto [y, idx] = gs::kernels::max_pool2d_forward(x, geom(2, 2, 2, 2, 0, 0));
    CHECK(std::isnan(y.at<double>({0, 0, 0, 0})));
    CHECK(std::isnan(y.at<double>({0, 0, 0, 1})));
    CHECK(idx.at<i64>({0, 0, 0, 0}) == 1);
    CHECK(idx.at<i64>({0, 0, 0, 1}) == 7);
    // avg pooling propagates NaN by arithmetic.
    CHECK(std::isnan(gs::kernels::avg_pool2d_forward(x, geom(2, 2, 2, 2, 0, 0), false).at<double>({0, 0, 0, 0})));
    // -inf everywhere still picks a real pixel.
    Tensor ninf = Tensor::full({1, 1, 2, 2}, -INFINITY, gs::dtype_of<T>());
    auto [y2, idx2] = gs::kernels::max_pool2d_forward(ninf, geom(2, 2, 2, 2, 0, 0));
    CHECK(y2.at<double>({0, 0, 0, 0}) == -INFINITY);
    CHECK(idx2.at<i64>({0, 0, 0, 0}) == 0);
}

TEST_CASE("pooling accepts non-contiguous input and an empty batch") {
    gs::Generator gen(33);
    Tensor base = gs::uniform({2, 6, 6, 3}, gen, -1.0, 1.0, gs::DType::f64);
    Tensor x = base.permute({0, 3, 1, 2});
    const auto g = geom(2, 2, 2, 2, 0, 0);
    CHECK(max_abs_diff(gs::kernels::avg_pool2d_forward(x, g, true),
                   gs::kernels::avg_pool2d_forward(x.contiguous(), g, true).to_vector<double>()) == 0.0);
    CHECK(max_abs_diff(gs::kernels::max_pool2d_forward(x, g).y,
                   gs::kernels::max_pool2d_forward(x.contiguous(), g).y.to_vector<double>()) == 0.0);
    auto r = gs::kernels::max_pool2d_forward(Tensor::zeros({0, 3, 4, 4}), g);
    CHECK(r.y.shape() == Shape{0, 3, 2, 2});
}

TEST_CASE("pooling rejects bad geometry and shapes naming them") {
    Tensor x = Tensor::zeros({1, 2, 4, 4});
    CHECK_THROWS_WITH_AS(gs::kernels::max_pool2d_forward(x, geom(5, 5, 1, 1, 0, 0)),
                         doctest::Contains("output size 0 x 0 is not positive for input [1, 2, 4, 4]"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::avg_pool2d_forward(x, geom(2, 2, 1, 1, 2, 0), true),
                         doctest::Contains("padding must be between 0 and half the kernel"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::avg_pool2d_forward(x, geom(2, 2, 0, 1, 0, 0), true),
                         doctest::Contains("kernel=(2, 2) stride=(0, 1)"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::max_pool2d_forward(Tensor::zeros({2, 4, 4}), geom(2, 2, 2, 2, 0, 0)),
                         doctest::Contains("4-d"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::avg_pool2d_backward(Tensor::zeros({1, 2, 3, 3}), x.shape(), geom(2, 2, 2, 2, 0, 0), true),
                         doctest::Contains("[1, 2, 2, 2]"), gs::Error);
    Tensor bad = Tensor::full({1, 2, 2, 2}, 16.0, gs::DType::i64);
    CHECK_THROWS_WITH_AS(gs::kernels::max_pool2d_backward(Tensor::zeros({1, 2, 2, 2}), bad, x.shape()),
                         doctest::Contains("index 16"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::max_pool2d_forward(x.to(gs::DType::i64), geom(2, 2, 2, 2, 0, 0)),
                         doctest::Contains("f32 or f64"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::max_pool2d_forward(Tensor::zeros({1, 2, 0, 4}), geom(2, 2, 1, 1, 1, 1)),
                         doctest::Contains("input planes must not be empty, got [1, 2, 0, 4]"), gs::Error);
}
