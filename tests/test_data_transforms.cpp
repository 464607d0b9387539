// Batch transforms against naive per-element references on odd shapes, f32 and f64, plus the
// reproducibility of random crops/flips and of the Pipeline's draws.
#include <doctest/doctest.h>

#include <cmath>
#include <set>
#include <stdexcept>
#include <vector>

#include "data/transforms.h"
#include "tensor/random.h"

using namespace gs;
using namespace gs::data;

namespace {

Tensor u8_images(const Shape& shape, std::uint64_t seed) {
    Generator g(seed);
    return randint(shape, g, 0, 256, DType::u8);
}

template <class T>
Tensor float_images(const Shape& shape, std::uint64_t seed) {
    Generator g(seed);
    return normal(shape, g, 0.5, 2.0, dtype_of<T>());
}

// Naive (N, C, H, W) element read.
double px(const std::vector<double>& v, const Shape& s, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
    return v[std::size_t(((n * s[1] + c) * s[2] + h) * s[3] + w)];
}

// out must equal the window (top[n], left[n], OH, OW) of x for every image.
bool matches_crop(const Tensor& x, const Tensor& out, const std::vector<std::int64_t>& top,
                  const std::vector<std::int64_t>& left, std::int64_t OH, std::int64_t OW) {
    const Shape s = x.shape();
    if (out.shape() != Shape{s[0], s[1], OH, OW} || out.dtype() != x.dtype()) return false;
    const auto xv = x.to_vector<double>(), ov = out.to_vector<double>();
    const Shape os = out.shape();
    for (std::int64_t n = 0; n < s[0]; ++n)
        for (std::int64_t c = 0; c < s[1]; ++c)
            for (std::int64_t i = 0; i < OH; ++i)
                for (std::int64_t j = 0; j < OW; ++j)
                    if (px(ov, os, n, c, i, j) != px(xv, s, n, c, top[std::size_t(n)] + i, left[std::size_t(n)] + j))
                        return false;
    return true;
}

}  // namespace

TEST_CASE_TEMPLATE("to_float divides by 255 into f32 and f64", T, float, double) {
    const Tensor x = u8_images({3, 2, 5, 7}, 1);
    const Tensor y = to_float(x, dtype_of<T>());
    REQUIRE(y.dtype() == dtype_of<T>());
    REQUIRE(y.shape() == x.shape());
    const auto xv = x.to_vector<double>();
    const auto yv = y.to_vector<double>();
    for (std::size_t i = 0; i < xv.size(); ++i)
        // x * T(1/255) vs x / 255: one rounding of the reciprocal and one of the product.
        CHECK(yv[i] == doctest::Approx(xv[i] / 255.0).epsilon(std::is_same_v<T, float> ? 3e-7 : 1e-15));
    // Float images (a Gaussian randomization, in pixel units) land on the same scale.
    const Tensor f = to_float(x.to(DType::f32), dtype_of<T>());
    const auto fv = f.to_vector<double>();
    for (std::size_t i = 0; i < xv.size(); ++i) CHECK(fv[i] == doctest::Approx(xv[i] / 255.0).epsilon(3e-7));
    CHECK_THROWS_WITH_AS(to_float(x, DType::u8), doctest::Contains("f32 or f64"), gs::Error);
}

TEST_CASE("center_crop takes the window at top (H - OH) / 2 and left (W - OW) / 2") {
    const Tensor x = u8_images({4, 3, 7, 9}, 2);
    const Tensor y = center_crop(x, 4, 5);
    CHECK(matches_crop(x, y, {1, 1, 1, 1}, {2, 2, 2, 2}, 4, 5));
    // Zhang: 32 -> 28 crops from (2, 2).
    const Tensor z = u8_images({2, 3, 32, 32}, 3);
    CHECK(matches_crop(z, center_crop(z, 28, 28), {2, 2}, {2, 2}, 28, 28));
    CHECK(matches_crop(z, center_crop(z, 32, 32), {0, 0}, {0, 0}, 32, 32));
    CHECK_THROWS_WITH_AS(center_crop(z, 33, 28), doctest::Contains("crop 33x28 does not fit"), gs::Error);
}

TEST_CASE_TEMPLATE("crop with per-image offsets matches a naive window copy", T, float, double) {
    const Tensor x = float_images<T>({3, 2, 7, 9}, 4);
    const std::vector<std::int64_t> top = {0, 3, 2}, left = {4, 0, 1};
    const Tensor offsets = Tensor::from_vector(std::vector<std::int64_t>{0, 4, 3, 0, 2, 1}, {3, 2});
    CHECK(matches_crop(x, crop(x, offsets, 4, 5), top, left, 4, 5));
    const Tensor bad = Tensor::from_vector(std::vector<std::int64_t>{0, 4, 4, 0, 2, 1}, {3, 2});
    CHECK_THROWS_WITH_AS(crop(x, bad, 4, 5), doctest::Contains("offset (4, 0) of image 1"), gs::Error);
}

TEST_CASE("random_crop offsets cover every window and depend only on the image position") {
    const std::int64_t N = 2000;
    Generator g(5, 1);
    const Tensor off = random_crop_offsets(N, 32, 32, 28, 28, g);
    CHECK(g.offset == std::uint64_t(N));
    std::set<std::int64_t> tops, lefts;
    const auto o = off.to_vector<std::int64_t>();
    for (std::int64_t n = 0; n < N; ++n) {
        tops.insert(o[std::size_t(2 * n)]);
        lefts.insert(o[std::size_t(2 * n + 1)]);
    }
    CHECK(tops == std::set<std::int64_t>{0, 1, 2, 3, 4});
    CHECK(lefts == std::set<std::int64_t>{0, 1, 2, 3, 4});
    // Two batches of 7 and 5 from offset 0 equal one batch of 12: the draw belongs to the position.
    Generator a(5, 1), b(5, 1);
    const auto whole = random_crop_offsets(12, 32, 32, 28, 28, a).to_vector<std::int64_t>();
    auto part = random_crop_offsets(7, 32, 32, 28, 28, b).to_vector<std::int64_t>();
    const auto rest = random_crop_offsets(5, 32, 32, 28, 28, b).to_vector<std::int64_t>();
    part.insert(part.end(), rest.begin(), rest.end());
    CHECK(whole == part);

    const Tensor x = u8_images({9, 3, 10, 11}, 6);
    Generator c(8, 3), d(8, 3);
    const Tensor y = random_crop(x, 6, 7, c);
    const Tensor offs = random_crop_offsets(9, 10, 11, 6, 7, d);
    CHECK(c == d);
    std::vector<std::int64_t> top, left;
    for (std::int64_t n = 0; n < 9; ++n) {
        top.push_back(offs.at<std::int64_t>({n, 0}));
        left.push_back(offs.at<std::int64_t>({n, 1}));
    }
    CHECK(matches_crop(x, y, top, left, 6, 7));
}

TEST_CASE_TEMPLATE("flip_horizontal mirrors exactly the flagged images", T, float, double) {
    const Tensor x = float_images<T>({4, 3, 5, 7}, 9);
    const Tensor flags = Tensor::from_vector(std::vector<std::uint8_t>{1, 0, 0, 1});
    const Tensor y = flip_horizontal(x, flags);
    const Shape s = x.shape();
    const auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
    std::int64_t bad = 0;
    for (std::int64_t n = 0; n < 4; ++n)
        for (std::int64_t c = 0; c < 3; ++c)
            for (std::int64_t h = 0; h < 5; ++h)
                for (std::int64_t w = 0; w < 7; ++w) {
                    const std::int64_t from = (n == 0 || n == 3) ? 6 - w : w;
                    bad += px(yv, s, n, c, h, w) != px(xv, s, n, c, h, from);
                }
    CHECK(bad == 0);
    // random_flip flips about half the images, reproducibly.
    const std::int64_t N = 10000;
    Generator g(1, 2);
    const auto f = random_flip_flags(N, g).to_vector<double>();
    double frac = 0;
    for (double v : f) frac += v;
    frac /= double(N);
    CHECK(std::abs(frac - 0.5) <= 5.0 * std::sqrt(0.25 / double(N)));  // 5 binomial sigma
    Generator h1(3), h2(3);
    CHECK(random_flip(x, h1).to_vector<double>() == flip_horizontal(x, random_flip_flags(4, h2)).to_vector<double>());
}

TEST_CASE_TEMPLATE("per_image_whitening follows TensorFlow's formula with the 1/sqrt(N) floor", T, float, double) {
    const std::int64_t N = 5, C = 3, H = 7, W = 6, M = C * H * W;
    Tensor x = float_images<T>({N, C, H, W}, 10);
    // Image 3 constant (std 0 -> floor, output 0); image 4 nearly constant (std below the floor).
    std::vector<double> v = x.to_vector<double>();
    for (std::int64_t i = 0; i < M; ++i) {
        v[std::size_t(3 * M + i)] = 0.25;
        v[std::size_t(4 * M + i)] = 1.0 + 1e-3 * double(i % 2);
    }
    x = Tensor::from_vector(v, {N, C, H, W}).to(dtype_of<T>());
    v = x.to_vector<double>();
    const Tensor y = per_image_whitening(x);
    REQUIRE(y.dtype() == dtype_of<T>());
    const auto yv = y.to_vector<double>();
    for (std::int64_t n = 0; n < N; ++n) {
        double mean = 0, var = 0;
        for (std::int64_t i = 0; i < M; ++i) mean += v[std::size_t(n * M + i)];
        mean /= double(M);
        for (std::int64_t i = 0; i < M; ++i) var += std::pow(v[std::size_t(n * M + i)] - mean, 2);
        var /= double(M);  // population variance
        const double adjusted = std::max(std::sqrt(var), 1.0 / std::sqrt(double(M)));
        if (n >= 3) CHECK(adjusted == 1.0 / std::sqrt(double(M)));  // the floor is what divides
        for (std::int64_t i = 0; i < M; ++i) {
            const double ref = (v[std::size_t(n * M + i)] - mean) / adjusted;
            // f32: the output is rounded once from an f64 computation; f64: summation order only.
            CHECK(yv[std::size_t(n * M + i)] == doctest::Approx(ref).epsilon(std::is_same_v<T, float> ? 1e-6 : 1e-12).scale(1.0));
        }
    }
    for (std::int64_t i = 0; i < M; ++i) CHECK(yv[std::size_t(3 * M + i)] == 0.0);
    CHECK_THROWS_WITH_AS(per_image_whitening(u8_images({1, 1, 2, 2}, 1)), doctest::Contains("per_image_whitening"),
                         gs::Error);
}

TEST_CASE_TEMPLATE("normalize subtracts the channel mean and divides by the channel std", T, float, double) {
    const Tensor x = float_images<T>({3, 3, 4, 5}, 11);
    const std::vector<double> mean = {0.1, -0.2, 0.3}, sd = {0.5, 2.0, 1.5};
    const Tensor y = normalize(x, mean, sd);
    const Shape s = x.shape();
    const auto xv = x.to_vector<double>(), yv = y.to_vector<double>();
    for (std::int64_t n = 0; n < 3; ++n)
        for (std::int64_t c = 0; c < 3; ++c)
            for (std::int64_t h = 0; h < 4; ++h)
                for (std::int64_t w = 0; w < 5; ++w) {
                    const double ref = (px(xv, s, n, c, h, w) - mean[std::size_t(c)]) / sd[std::size_t(c)];
                    // One rounding to T of an f64 result.
                    CHECK(px(yv, s, n, c, h, w) == doctest::Approx(ref).epsilon(std::is_same_v<T, float> ? 1e-6 : 1e-14));
                }
    CHECK_THROWS_WITH_AS(normalize(x, {0, 0}, {1, 1}), doctest::Contains("mean has 2"), gs::Error);
    CHECK_THROWS_WITH_AS(normalize(x, mean, {1, 0, 1}), doctest::Contains("std[1] = 0"), gs::Error);
}

TEST_CASE("Pipeline draws are a pure function of seed and epoch and position") {
    const Tensor x = u8_images({12, 3, 32, 32}, 12);
    const Pipeline p = Pipeline().random_crop(28, 28).random_flip().to_float().whiten();
    CHECK(p.size() == 4);
    CHECK(p.describe() == "random_crop(28x28) -> random_flip(p=0.5) -> to_float(f32, x0.00392157) -> whiten");
    const Tensor a = p(x, 1, 0, 0);
    CHECK(a.shape() == Shape{12, 3, 28, 28});
    CHECK(a.dtype() == DType::f32);
    CHECK(p(x, 1, 0, 0).to_vector<float>() == a.to_vector<float>());
    CHECK(p(x, 1, 1, 0).to_vector<float>() != a.to_vector<float>());  // another epoch
    CHECK(p(x, 2, 0, 0).to_vector<float>() != a.to_vector<float>());  // another seed
    // The last 5 images processed as a batch at position 7 equal images 7..11 of the whole batch.
    const Tensor tail = p(x.narrow(0, 7, 5), 1, 0, 7);
    CHECK(tail.to_vector<float>() == a.narrow(0, 7, 5).to_vector<float>());
    // Whitened images have mean 0 and (population) std 1.
    for (std::int64_t n = 0; n < 12; ++n) {
        const auto v = a.select(0, n).to_vector<double>();
        double m = 0, q = 0;
        for (double e : v) m += e;
        m /= double(v.size());
        for (double e : v) q += (e - m) * (e - m);
        CHECK(std::abs(m) < 1e-5);                                   // f32 outputs summed in f64
        CHECK(std::sqrt(q / double(v.size())) == doctest::Approx(1.0).epsilon(1e-5));
    }
    // zhang_pipeline(false) = center crop, /255, whiten.
    const Tensor z = zhang_pipeline(false)(x, 3, 0, 0);
    const Tensor ref = per_image_whitening(to_float(center_crop(x, 28, 28)));
    CHECK(z.to_vector<float>() == ref.to_vector<float>());
    // A failing step surfaces its error.
    Pipeline bad;
    bad.add("boom", [](const Tensor&, Generator&) -> Tensor { throw std::runtime_error("boom step"); });
    CHECK_THROWS_WITH(bad(x, 0, 0, 0), "boom step");
}

TEST_CASE("pad surrounds each image with zeros and random crops of the padded image shift it") {
    Tensor x = Tensor::arange(2 * 1 * 3 * 2).reshape({2, 1, 3, 2}).to(DType::u8);
    const Tensor y = pad(x, 2);
    REQUIRE(y.shape() == Shape{2, 1, 7, 6});
    for (std::int64_t n = 0; n < 2; ++n)
        for (std::int64_t h = 0; h < 7; ++h)
            for (std::int64_t w = 0; w < 6; ++w) {
                const bool inside = h >= 2 && h < 5 && w >= 2 && w < 4;
                const double want = inside ? x.at<double>({n, 0, h - 2, w - 2}) : 0.0;
                CHECK(y.at<double>({n, 0, h, w}) == want);
            }
    CHECK(pad(x, 0).shape() == x.shape());
    CHECK_THROWS_WITH_AS(pad(x, -1), doctest::Contains("pad: the padding must not be negative"), Error);
    const Tensor out = Pipeline().pad(2).random_crop(3, 2)(x, 1, 0, 0);
    CHECK(out.shape() == x.shape());
}
