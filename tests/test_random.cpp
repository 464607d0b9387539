// Philox RNG: known-answer values, determinism across thread counts, distribution sanity.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>

#include "tensor/philox.h"
#include "tensor/random.h"

using gs::DType;
using gs::Generator;
using gs::Tensor;

TEST_CASE("philox: known-answer vectors of Philox4x32-10") {
    // The reference test vectors published with Random123 (kat_vectors): counter, key -> output.
    auto b = gs::Philox4x32::generate(0, 0, 0);
    CHECK(b == gs::Philox4x32::Block{0x6627e8d5u, 0xe169c58du, 0xbc57ac4cu, 0x9b00dbd8u});
    b = gs::Philox4x32::generate(0xffffffffffffffffull, 0xffffffffffffffffull, 0xffffffffffffffffull);
    CHECK(b == gs::Philox4x32::Block{0x408f276du, 0x41c83b0eu, 0xa20bc7c6u, 0x6d5451fdu});
    // counter (243f6a88, 85a308d3, 13198a2e, 03707344), key (a4093822, 299f31d0): digits of pi.
    b = gs::Philox4x32::generate(0x299f31d0a4093822ull, 0x0370734413198a2eull, 0x85a308d3243f6a88ull);
    CHECK(b == gs::Philox4x32::Block{0xd16cfe09u, 0x94fdccebu, 0x5001e420u, 0x24126ea1u});
}

TEST_CASE("random: results do not depend on the thread count") {
    const int saved = omp_get_max_threads();
    auto draw = [] {
        Generator g(42, 3);
        Tensor u = gs::uniform({100000}, g);
        Tensor n = gs::normal({100001}, g, 0.0, 1.0, DType::f64);
        Tensor b = gs::bernoulli({50000}, g, 0.3);
        Tensor r = gs::randint({50000}, g, -5, 17);
        Tensor p = gs::randperm(1000, g);
        return std::make_tuple(u.to_vector<float>(), n.to_vector<double>(), b.to_vector<float>(),
                               r.to_vector<std::int64_t>(), p.to_vector<std::int64_t>(), g.offset);
    };
    omp_set_num_threads(1);
    const auto one = draw();
    omp_set_num_threads(2);
    const auto two = draw();
    omp_set_num_threads(saved);
    CHECK(one == two);
}

TEST_CASE("random: streams / seeds and offsets give different numbers / same state repeats") {
    Generator a(1, 0), b(1, 1), c(2, 0), a2(1, 0);
    const auto x = gs::uniform({64}, a).to_vector<float>();
    CHECK(gs::uniform({64}, b).to_vector<float>() != x);
    CHECK(gs::uniform({64}, c).to_vector<float>() != x);
    CHECK(gs::uniform({64}, a2).to_vector<float>() == x);
    CHECK(a.offset == 64);
    // Continuing from the same state reproduces the continuation.
    Generator saved = a;
    const auto next = gs::uniform({10}, a).to_vector<float>();
    CHECK(gs::uniform({10}, saved).to_vector<float>() == next);
    CHECK(next != std::vector<float>(x.begin(), x.begin() + 10));
}

TEST_CASE("random: distributions have the right moments and ranges") {
    Generator g(7);
    const std::int64_t n = 200000;
    const auto u = gs::uniform({n}, g, -2.0, 3.0, DType::f64).to_vector<double>();
    double mean = 0;
    std::int64_t outside = 0;
    for (double v : u) {
        outside += !(v >= -2.0 && v < 3.0);
        mean += v / double(n);
    }
    CHECK(outside == 0);
    // Standard error of the mean is 5/sqrt(12 n) ~ 0.0032: 5 sigma.
    CHECK(std::abs(mean - 0.5) < 0.016);

    const auto z = gs::normal({n}, g, 1.0, 2.0).to_vector<float>();
    double m = 0, s2 = 0;
    for (float v : z) m += v / double(n);
    for (float v : z) s2 += (v - m) * (v - m) / double(n - 1);
    CHECK(std::abs(m - 1.0) < 0.025);   // SE = 2/sqrt(n) ~ 0.0045: 5 sigma
    CHECK(std::abs(s2 - 4.0) < 0.07);   // SE of the variance = 4*sqrt(2/n) ~ 0.0126: 5 sigma

    const auto bern = gs::bernoulli({n}, g, 0.25, DType::u8).to_vector<std::uint8_t>();
    double ones = 0;
    std::int64_t not_binary = 0;
    for (auto v : bern) {
        not_binary += v > 1;
        ones += v;
    }
    CHECK(not_binary == 0);
    CHECK(std::abs(ones / double(n) - 0.25) < 0.005);  // SE ~ 0.00097: 5 sigma

    const auto r = gs::randint({n}, g, 3, 10).to_vector<std::int64_t>();
    std::vector<int> counts(7, 0);
    for (auto v : r) {
        REQUIRE((v >= 3 && v < 10));
        counts[std::size_t(v - 3)]++;
    }
    for (int c : counts) CHECK(std::abs(c - n / 7.0) < 5 * std::sqrt(n / 7.0));  // 5 sigma per bin

    auto p = gs::randperm(1000, g).to_vector<std::int64_t>();
    auto sorted = p;
    std::sort(sorted.begin(), sorted.end());
    for (std::int64_t i = 0; i < 1000; ++i) CHECK(sorted[std::size_t(i)] == i);
    CHECK(p != sorted);
}

TEST_CASE("random: bad arguments are rejected") {
    Generator g(0);
    CHECK_THROWS_WITH_AS(gs::uniform({3}, g, 1.0, 1.0), doctest::Contains("invalid range"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::bernoulli({3}, g, 1.5), doctest::Contains("outside [0, 1]"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::randint({3}, g, 5, 5), doctest::Contains("empty range"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::randint({3}, g, 0, 300, DType::u8), doctest::Contains("does not fit"), gs::Error);
    Tensor i = Tensor::zeros({3}, DType::i64);
    CHECK_THROWS_WITH_AS(gs::normal_(i, g), doctest::Contains("expected f32 or f64"), gs::Error);
}

TEST_CASE("random: extreme ranges") {
    Generator g(5);
    // The full int64 range draws without overflow, and both signs appear.
    const auto r = gs::randint({1000}, g, std::numeric_limits<std::int64_t>::min(),
                               std::numeric_limits<std::int64_t>::max()).to_vector<std::int64_t>();
    int negative = 0;
    for (auto v : r) negative += v < 0;
    CHECK(negative > 400);  // ~500 expected; binomial SE ~16
    CHECK(negative < 600);
    CHECK_THROWS_WITH_AS(gs::uniform({3}, g, -1e308, 1e308, DType::f64), doctest::Contains("invalid range"), gs::Error);
}
