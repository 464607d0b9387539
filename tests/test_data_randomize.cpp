// Randomizations of Zhang et al. §2.1 on small synthetic datasets: label statistics within stated
// binomial bounds, permutations, Gaussian moments, determinism across thread counts, and the record
// file (round trip, corruption rejected by name).
#include <doctest/doctest.h>
#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

#include "temp_dir.h"
#include "data/randomize.h"
#include "tensor/random.h"

using namespace gs;
using namespace gs::data;

namespace {

Dataset make_dataset(std::string name, std::int64_t N, std::int64_t C, std::int64_t H, std::int64_t W,
                     std::int64_t K, std::uint64_t seed) {
    Generator g(seed);
    Dataset d;
    d.name = std::move(name);
    d.images = randint({N, C, H, W}, g, 0, 256, DType::u8);
    d.labels = randint({N}, g, 0, K);
    d.num_classes = K;
    return d;
}

Splits make_splits(std::int64_t Ntr, std::int64_t Nte, std::int64_t C = 3, std::int64_t H = 8, std::int64_t W = 8,
                   std::int64_t K = 10, std::uint64_t seed = 1) {
    return {make_dataset("synth/train", Ntr, C, H, W, K, seed), make_dataset("synth/test", Nte, C, H, W, K, seed + 1)};
}

bool same(const Tensor& a, const Tensor& b) {
    if (a.defined() != b.defined()) return false;
    if (!a.defined()) return true;
    if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
    return a.to_vector<double>() == b.to_vector<double>();
}

bool is_perm(const Tensor& p, std::int64_t n) {
    auto v = p.to_vector<std::int64_t>();
    if (std::int64_t(v.size()) != n) return false;
    std::sort(v.begin(), v.end());
    for (std::int64_t i = 0; i < n; ++i)
        if (v[std::size_t(i)] != i) return false;
    return true;
}

// Binomial bound: |observed fraction - q| <= 5 standard deviations of a fraction over n trials.
// Five sigma: a false failure has probability ~6e-7 per check, while a wrong rate (say 1.0p instead
// of 0.9p at p = 0.5, n = 20000) misses by ~14 sigma.
void check_fraction(double observed, double q, std::int64_t n) {
    const double bound = 5.0 * std::sqrt(q * (1.0 - q) / double(n));
    CHECK(std::abs(observed - q) <= bound + 1e-12);
}

double fraction_of_ones(const Tensor& mask) {
    const auto v = mask.to_vector<std::int64_t>();
    double s = 0;
    for (auto x : v) s += double(x);
    return s / double(v.size());
}

using gs::test::TempDir;

}  // namespace

TEST_CASE("randomize partial_labels changes about 0.9p of the training labels and leaves test labels") {
    const std::int64_t N = 20000;
    const Splits s = make_splits(N, 500);
    for (double p : {0.2, 0.5, 0.8}) {
        Randomization r;
        r.kind = RandomizationKind::partial_labels;
        r.p = p;
        r.seed = 7;
        const auto out = randomize(s, r);
        const Tensor& mask = out.record.train_corrupted;
        check_fraction(fraction_of_ones(mask), p, N);
        // A corrupted label is uniform over 10 classes, so it changes with probability 0.9.
        check_fraction(fraction_changed(s.train.labels, out.data.train.labels), 0.9 * p, N);
        // Nothing changes outside the mask.
        const auto m = mask.to_vector<std::int64_t>();
        const auto a = s.train.labels.to_vector<std::int64_t>(), b = out.data.train.labels.to_vector<std::int64_t>();
        std::int64_t changed_unmasked = 0, out_of_range = 0;
        for (std::size_t i = 0; i < a.size(); ++i) {
            changed_unmasked += (m[i] == 0 && a[i] != b[i]);
            out_of_range += (b[i] < 0 || b[i] >= 10);
        }
        CHECK(changed_unmasked == 0);
        CHECK(out_of_range == 0);
        CHECK(same(out.data.test.labels, s.test.labels));
        CHECK(out.data.train.images.shares_storage(s.train.images));  // labels only: images untouched
        CHECK(!out.record.test_labels.defined());
    }
}

TEST_CASE("randomize always_different changes exactly the corrupted labels") {
    const std::int64_t N = 20000;
    const Splits s = make_splits(N, 300);
    Randomization r;
    r.kind = RandomizationKind::partial_labels;
    r.p = 0.3;
    r.always_different = true;
    r.seed = 3;
    const auto out = randomize(s, r);
    const auto m = out.record.train_corrupted.to_vector<std::int64_t>();
    const auto a = s.train.labels.to_vector<std::int64_t>(), b = out.data.train.labels.to_vector<std::int64_t>();
    std::int64_t mismatch = 0;
    for (std::size_t i = 0; i < a.size(); ++i) mismatch += ((a[i] != b[i]) != (m[i] == 1));
    CHECK(mismatch == 0);
    check_fraction(fraction_changed(s.train.labels, out.data.train.labels), 0.3, N);
}

TEST_CASE("randomize random_labels draws every label uniformly and can corrupt the test split") {
    const std::int64_t N = 20000, K = 10;
    const Splits s = make_splits(N, 4000);
    Randomization r;
    r.kind = RandomizationKind::random_labels;
    r.p = 0.1;  // ignored: random labels means p = 1
    r.seed = 11;
    r.corrupt_test_labels = true;
    const auto out = randomize(s, r);
    CHECK(out.record.config.p == 1.0);
    CHECK(fraction_of_ones(out.record.train_corrupted) == 1.0);
    check_fraction(fraction_changed(s.train.labels, out.data.train.labels), 0.9, N);
    check_fraction(fraction_changed(s.test.labels, out.data.test.labels), 0.9, 4000);
    std::vector<std::int64_t> count(K, 0);
    for (auto y : out.data.train.labels.to_vector<std::int64_t>()) ++count[std::size_t(y)];
    for (auto c : count) check_fraction(double(c) / double(N), 1.0 / double(K), N);
    // Train and test draw from different streams: the two label sequences are not the same prefix.
    const auto tr = out.data.train.labels.to_vector<std::int64_t>(), te = out.data.test.labels.to_vector<std::int64_t>();
    CHECK(!std::equal(te.begin(), te.end(), tr.begin()));
}

TEST_CASE("randomize shuffled_pixels applies one permutation to train and test") {
    const Splits s = make_splits(20, 7, 3, 5, 7);
    for (PixelUnit unit : {PixelUnit::position, PixelUnit::value}) {
        Randomization r;
        r.kind = RandomizationKind::shuffled_pixels;
        r.seed = 5;
        r.pixel_unit = unit;
        const auto out = randomize(s, r);
        const std::int64_t C = 3, HW = 35, P = unit == PixelUnit::position ? HW : C * HW;
        const Tensor& perm = out.record.pixel_permutation;
        REQUIRE(is_perm(perm, P));
        const auto pv = perm.to_vector<std::int64_t>();
        for (const auto& [in, res] : {std::pair{&s.train, &out.data.train}, std::pair{&s.test, &out.data.test}}) {
            const auto x = in->images.to_vector<std::int64_t>(), y = res->images.to_vector<std::int64_t>();
            CHECK(res->images.dtype() == DType::u8);
            std::int64_t bad = 0;
            for (std::int64_t n = 0; n < in->size(); ++n)
                for (std::int64_t c = 0; c < C; ++c)
                    for (std::int64_t q = 0; q < HW; ++q) {
                        const std::int64_t flat = c * HW + q;
                        const std::int64_t from =
                            unit == PixelUnit::position ? c * HW + pv[std::size_t(q)] : pv[std::size_t(flat)];
                        bad += y[std::size_t(n * C * HW + flat)] != x[std::size_t(n * C * HW + from)];
                    }
            CHECK(bad == 0);
            CHECK(same(res->labels, in->labels));
        }
    }
    Randomization r;
    r.kind = RandomizationKind::shuffled_pixels;
    r.transform_test_pixels = false;
    const auto out = randomize(s, r);
    CHECK(out.data.test.images.shares_storage(s.test.images));
    CHECK(!same(out.data.train.images, s.train.images));
}

TEST_CASE("randomize random_pixels draws a fresh permutation per image and keeps each image's pixels") {
    // Identical images whose value encodes (channel, position): the output reveals each permutation.
    const std::int64_t N = 50, C = 3, H = 8, W = 8, HW = H * W;
    std::vector<std::uint8_t> v;
    for (std::int64_t n = 0; n < N; ++n)
        for (std::int64_t c = 0; c < C; ++c)
            for (std::int64_t q = 0; q < HW; ++q) v.push_back(std::uint8_t(c * HW + q));
    Splits s = make_splits(N, N, C, H, W);
    s.train.images = Tensor::from_vector(v, {N, C, H, W});
    s.test.images = s.train.images.clone();
    Randomization r;
    r.kind = RandomizationKind::random_pixels;
    r.seed = 9;
    const auto out = randomize(s, r);
    const auto y = out.data.train.images.to_vector<std::int64_t>();
    std::vector<std::vector<std::int64_t>> perms;
    for (std::int64_t n = 0; n < N; ++n) {
        std::vector<std::int64_t> perm(static_cast<std::size_t>(HW));
        bool channels_together = true;
        for (std::int64_t q = 0; q < HW; ++q) {
            perm[std::size_t(q)] = y[std::size_t(n * C * HW + q)];
            for (std::int64_t c = 1; c < C; ++c)
                channels_together &= y[std::size_t((n * C + c) * HW + q)] == c * HW + perm[std::size_t(q)];
        }
        CHECK(channels_together);
        CHECK(is_perm(Tensor::from_vector(perm), HW));
        perms.push_back(perm);
    }
    std::sort(perms.begin(), perms.end());
    CHECK(std::unique(perms.begin(), perms.end()) == perms.end());  // 50 distinct draws out of 64!
    // Test images draw from their own stream: image 0 of test differs from image 0 of train.
    CHECK(!same(out.data.test.images.select(0, 0), out.data.train.images.select(0, 0)));

    // PixelUnit::value: each image's multiset of all C*H*W values is kept, on random images.
    const Splits s2 = make_splits(30, 5, 3, 5, 5);
    r.pixel_unit = PixelUnit::value;
    const auto out2 = randomize(s2, r);
    for (std::int64_t n = 0; n < 30; ++n) {
        auto a = s2.train.images.select(0, n).to_vector<std::int64_t>();
        auto b = out2.data.train.images.select(0, n).to_vector<std::int64_t>();
        std::sort(a.begin(), a.end());
        std::sort(b.begin(), b.end());
        CHECK(a == b);
    }
}

TEST_CASE("randomize gaussian matches the training set's per-channel mean and variance") {
    // Channels with different means and spreads, so a pooled (not per-channel) moment would fail.
    const std::int64_t N = 2000, C = 3, H = 8, W = 8, HW = H * W;
    Splits s = make_splits(N, 200, C, H, W);
    Generator g(42);
    std::vector<std::uint8_t> v(std::size_t(N * C * HW));
    const auto u = uniform({N * C * HW}, g, 0.0, 1.0, DType::f64).to_vector<double>();
    const std::array<double, 3> lo = {0, 100, 200}, span = {255, 50, 20};
    for (std::int64_t i = 0; i < N * C * HW; ++i) {
        const auto c = std::size_t((i / HW) % C);
        v[std::size_t(i)] = std::uint8_t(lo[c] + span[c] * u[std::size_t(i)]);
    }
    s.train.images = Tensor::from_vector(v, {N, C, H, W});
    Randomization r;
    r.kind = RandomizationKind::gaussian;
    r.seed = 4;
    const auto out = randomize(s, r);
    REQUIRE(out.data.train.images.dtype() == DType::f32);
    REQUIRE(out.data.test.images.dtype() == DType::f32);
    CHECK(out.data.test.images.shape() == s.test.images.shape());
    const auto x = s.train.images.to_vector<double>(), y = out.data.train.images.to_vector<double>();
    const auto rm = out.record.channel_mean.to_vector<double>(), rs = out.record.channel_std.to_vector<double>();
    for (std::int64_t c = 0; c < C; ++c) {
        double mx = 0, vx = 0, my = 0, vy = 0;
        const double n = double(N * HW);
        for (std::int64_t i = 0; i < N; ++i)
            for (std::int64_t q = 0; q < HW; ++q) {
                mx += x[std::size_t((i * C + c) * HW + q)];
                my += y[std::size_t((i * C + c) * HW + q)];
            }
        mx /= n;
        my /= n;
        for (std::int64_t i = 0; i < N; ++i)
            for (std::int64_t q = 0; q < HW; ++q) {
                vx += std::pow(x[std::size_t((i * C + c) * HW + q)] - mx, 2);
                vy += std::pow(y[std::size_t((i * C + c) * HW + q)] - my, 2);
            }
        vx /= n;
        vy /= n;
        // The record holds the exact moments of the data (f64 sums in a different order: 1e-9).
        CHECK(rm[std::size_t(c)] == doctest::Approx(mx).epsilon(1e-9));
        CHECK(rs[std::size_t(c)] == doctest::Approx(std::sqrt(vx)).epsilon(1e-9));
        // The sample: mean within 5 standard errors, variance within 5 sigma of its sqrt(2/n) spread.
        CHECK(std::abs(my - mx) <= 5.0 * std::sqrt(vx / n));
        CHECK(std::abs(vy / vx - 1.0) <= 5.0 * std::sqrt(2.0 / n));
    }
}

TEST_CASE("randomize is deterministic in the seed and independent of the thread count") {
    const Splits s = make_splits(300, 100, 3, 6, 6);
    const int saved_threads = omp_get_max_threads();
    for (int k = 0; k <= int(RandomizationKind::gaussian); ++k) {
        Randomization r;
        r.kind = RandomizationKind(k);
        r.p = 0.5;
        r.seed = 123;
        r.corrupt_test_labels = true;
        omp_set_num_threads(1);
        const auto a = randomize(s, r);
        omp_set_num_threads(2);
        const auto b = randomize(s, r);
        r.seed = 124;
        const auto c = randomize(s, r);
        CAPTURE(randomization_name(r.kind));
        for (const auto& [x, y] : {std::pair{&a.data.train, &b.data.train}, std::pair{&a.data.test, &b.data.test}}) {
            CHECK(same(x->images, y->images));
            CHECK(same(x->labels, y->labels));
        }
        CHECK(a.record.train_digest == b.record.train_digest);
        CHECK(a.record.test_digest == b.record.test_digest);
        if (r.kind != RandomizationKind::true_labels)
            CHECK((!same(a.data.train.images, c.data.train.images) || !same(a.data.train.labels, c.data.train.labels)));
    }
    omp_set_num_threads(saved_threads);
}

TEST_CASE("randomize rejects bad inputs with their values") {
    const Splits s = make_splits(10, 5);
    Randomization r;
    r.kind = RandomizationKind::partial_labels;
    r.p = 1.5;
    CHECK_THROWS_WITH_AS(randomize(s, r), doctest::Contains("p = 1.5"), gs::Error);
    CHECK_THROWS_WITH_AS(parse_randomization("random_label"), doctest::Contains("unknown randomization 'random_label'"),
                         gs::Error);
    CHECK(parse_randomization("shuffled_pixels") == RandomizationKind::shuffled_pixels);
    Splits bad = s;
    bad.train.labels = Tensor::from_vector(std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 10});
    r.p = 0.5;
    CHECK_THROWS_WITH_AS(randomize(bad, r), doctest::Contains("label 10 of example 9"), gs::Error);
    Splits mismatch = s;
    mismatch.test = make_dataset("synth/test", 5, 1, 8, 8, 10, 3);
    r.kind = RandomizationKind::shuffled_pixels;
    CHECK_THROWS_WITH_AS(randomize(mismatch, r), doctest::Contains("differ in (C, H, W)"), gs::Error);
}

TEST_CASE("randomization record round trip reapplies the same randomization") {
    TempDir dir;
    const Splits s = make_splits(200, 50, 3, 6, 6);
    for (int k = 0; k <= int(RandomizationKind::gaussian); ++k) {
        Randomization r;
        r.kind = RandomizationKind(k);
        r.p = 0.4;
        r.seed = 77;
        r.corrupt_test_labels = k == int(RandomizationKind::partial_labels);
        CAPTURE(randomization_name(r.kind));
        const auto out = randomize(s, r);
        const auto path = dir.path / (std::string(randomization_name(r.kind)) + ".gsrand");
        save_record(out.record, path);
        CHECK(std::filesystem::exists(path));
        const RandomizationRecord rec = load_record(path);
        CHECK(rec.config.kind == r.kind);
        CHECK(rec.config.seed == 77);
        CHECK(rec.config.p == out.record.config.p);
        CHECK(rec.train_size == 200);
        CHECK(rec.train_digest == out.record.train_digest);
        CHECK(same(rec.train_labels, out.record.train_labels));
        CHECK(same(rec.test_corrupted, out.record.test_corrupted));
        CHECK(same(rec.pixel_permutation, out.record.pixel_permutation));
        CHECK(same(rec.channel_std, out.record.channel_std));
        const Splits again = reapply(s, rec);
        CHECK(same(again.train.images, out.data.train.images));
        CHECK(same(again.test.images, out.data.test.images));
        CHECK(same(again.train.labels, out.data.train.labels));
        CHECK(same(again.test.labels, out.data.test.labels));
    }
    // No temp files are left behind by the atomic writes.
    for (const auto& e : std::filesystem::directory_iterator(dir.path))
        CHECK(e.path().string().find(".tmp.") == std::string::npos);
}

TEST_CASE("randomization record rejects corrupt files and foreign data by name") {
    TempDir dir;
    const Splits s = make_splits(100, 20);
    Randomization r;
    r.kind = RandomizationKind::partial_labels;
    r.p = 0.5;
    const auto out = randomize(s, r);
    const auto path = dir.path / "labels.gsrand";
    save_record(out.record, path);
    std::string bytes;
    {
        std::ifstream in(path, std::ios::binary);
        bytes.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    auto write = [&](const std::string& b) {
        std::ofstream o(path, std::ios::binary | std::ios::trunc);
        o.write(b.data(), std::streamsize(b.size()));
    };
    std::string flipped = bytes;
    flipped[flipped.size() / 2] ^= 0x10;
    write(flipped);
    CHECK_THROWS_WITH_AS(load_record(path), doctest::Contains(std::string(path.string() + ": checksum mismatch").c_str()), gs::Error);
    write(bytes.substr(0, bytes.size() - 7));
    CHECK_THROWS_WITH_AS(load_record(path), doctest::Contains(std::string(path.string() + ": the header announces").c_str()), gs::Error);
    write(bytes.substr(0, 10));
    CHECK_THROWS_WITH_AS(load_record(path), doctest::Contains("truncated"), gs::Error);
    write("NOTARECORD" + bytes.substr(10));
    CHECK_THROWS_WITH_AS(load_record(path), doctest::Contains("bad magic"), gs::Error);
    CHECK_THROWS_WITH_AS(load_record(dir.path / "missing.gsrand"), doctest::Contains("missing.gsrand"), gs::Error);

    // A record drawn for other labels does not reapply silently.
    write(bytes);
    Splits other = make_splits(100, 20, 3, 8, 8, 10, 99);
    CHECK_THROWS_WITH_AS(reapply(other, load_record(path)), doctest::Contains("differ from the ones the record"),
                         gs::Error);
    Splits smaller = make_splits(90, 20);
    CHECK_THROWS_WITH_AS(reapply(smaller, load_record(path)), doctest::Contains("drawn for 100/20"), gs::Error);
}
