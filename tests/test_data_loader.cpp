// Loader: coverage of every example per epoch, order and augmentation reproducible from
// (seed, epoch, batch), seek/resume, drop_last, prefetch shutdown mid-epoch, worker errors.
#include <doctest/doctest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <stdexcept>
#include <thread>
#include <vector>

#include "data/loader.h"
#include "tensor/random.h"

using namespace gs;
using namespace gs::data;

namespace {

// Image n holds the value n % 256 in its first pixel, so batches can be checked against indices.
Dataset synthetic(std::int64_t N, std::int64_t C = 3, std::int64_t H = 12, std::int64_t W = 12) {
    Generator g(17);
    Dataset d;
    d.name = "synth";
    d.images = randint({N, C, H, W}, g, 0, 256, DType::u8);
    auto* p = d.images.data<std::uint8_t>();
    for (std::int64_t n = 0; n < N; ++n) p[n * C * H * W] = std::uint8_t(n % 256);
    d.labels = randint({N}, g, 0, 10);
    d.num_classes = 10;
    return d;
}

bool same_batch(const Batch& a, const Batch& b) {
    return a.epoch == b.epoch && a.index == b.index && a.indices.to_vector<std::int64_t>() == b.indices.to_vector<std::int64_t>() &&
           a.labels.to_vector<std::int64_t>() == b.labels.to_vector<std::int64_t>() && a.images.shape() == b.images.shape() &&
           a.images.to_vector<double>() == b.images.to_vector<double>();
}

LoaderOptions augmenting(std::int64_t batch, std::uint64_t seed) {
    LoaderOptions o;
    o.batch_size = batch;
    o.seed = seed;
    o.transform = Pipeline().random_crop(10, 10).random_flip().to_float().whiten();
    return o;
}

}  // namespace

TEST_CASE("loader visits every example exactly once per epoch with matching labels and images") {
    const Dataset d = synthetic(103);
    LoaderOptions o;
    o.batch_size = 10;
    o.seed = 4;
    Loader loader(d, o);
    CHECK(loader.batches_per_epoch() == 11);
    const auto y = d.labels.to_vector<std::int64_t>();
    std::vector<std::vector<std::int64_t>> orders;
    for (std::int64_t e = 0; e < 3; ++e) {
        std::vector<std::int64_t> seen;
        for (std::int64_t b = 0; b < 11; ++b) {
            const Batch batch = loader.next();
            CHECK(batch.epoch == e);
            CHECK(batch.index == b);
            const std::int64_t B = b < 10 ? 10 : 3;
            REQUIRE(batch.images.shape() == Shape{B, 3, 12, 12});
            CHECK(batch.images.dtype() == DType::f32);
            const auto idx = batch.indices.to_vector<std::int64_t>();
            const auto lab = batch.labels.to_vector<std::int64_t>();
            for (std::int64_t i = 0; i < B; ++i) {
                CHECK(lab[std::size_t(i)] == y[std::size_t(idx[std::size_t(i)])]);
                // Default transform: u8 / 255, so the marker pixel reads back the index.
                CHECK(batch.images.at<float>({i, 0, 0, 0}) * 255.0f == doctest::Approx(double(idx[std::size_t(i)] % 256)));
            }
            seen.insert(seen.end(), idx.begin(), idx.end());
        }
        orders.push_back(seen);
        std::sort(seen.begin(), seen.end());
        std::vector<std::int64_t> all(103);
        for (std::int64_t i = 0; i < 103; ++i) all[std::size_t(i)] = i;
        CHECK(seen == all);
        CHECK(orders.back() == loader.epoch_order(e).to_vector<std::int64_t>());
    }
    CHECK(orders[0] != orders[1]);  // reshuffled every epoch
    CHECK(loader.stats().batches == 33);

    LoaderOptions plain = o;
    plain.shuffle = false;
    Loader sequential(d, plain);
    CHECK(sequential.next().indices.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("loader order and augmentation are a function of seed and epoch whatever the prefetch depth") {
    const Dataset d = synthetic(57);
    LoaderOptions a = augmenting(8, 21), b = augmenting(8, 21), c = augmenting(8, 22);
    a.threads = 1;   // the worker's transforms on one OpenMP thread ...
    b.prefetch = 0;  // ... against no worker: built on this thread with its default OpenMP team
    Loader la(d, a), lb(d, b), lc(d, c);
    bool any_differs = false;
    for (int i = 0; i < 20; ++i) {
        const Batch x = la.next(), y = lb.next(), z = lc.next();
        CHECK(same_batch(x, y));
        CHECK(same_batch(x, la.make_batch(x.epoch, x.index)));
        any_differs |= !same_batch(x, z);
    }
    CHECK(any_differs);
}

TEST_CASE("loader seek resumes with identical batches including augmentation") {
    const Dataset d = synthetic(61);
    const LoaderOptions o = augmenting(7, 5);  // 9 batches per epoch, the last of 5
    std::vector<Batch> run;
    {
        Loader loader(d, o);
        for (int i = 0; i < 25; ++i) run.push_back(loader.next());
    }
    // A "restarted" run resumes at epoch 1, batch 4 (the 13th batch) in a fresh loader.
    Loader resumed(d, o);
    resumed.seek(1, 4);
    CHECK(resumed.epoch() == 1);
    CHECK(resumed.batch_index() == 4);
    for (std::size_t i = 13; i < 25; ++i) CHECK(same_batch(resumed.next(), run[i]));
    // Seeking backwards in a running loader drops what was prefetched.
    resumed.seek(0, 2);
    CHECK(same_batch(resumed.next(), run[2]));
    CHECK_THROWS_WITH_AS(resumed.seek(0, 9), doctest::Contains("seek: (0, 9)"), gs::Error);
}

TEST_CASE("loader drop_last drops the short batch") {
    const Dataset d = synthetic(103);
    LoaderOptions o;
    o.batch_size = 10;
    o.drop_last = true;
    Loader loader(d, o);
    CHECK(loader.batches_per_epoch() == 10);
    std::vector<std::int64_t> seen;
    for (int b = 0; b < 10; ++b) {
        const Batch batch = loader.next();
        CHECK(batch.images.size(0) == 10);
        const auto idx = batch.indices.to_vector<std::int64_t>();
        seen.insert(seen.end(), idx.begin(), idx.end());
    }
    std::sort(seen.begin(), seen.end());
    CHECK(std::unique(seen.begin(), seen.end()) == seen.end());
    CHECK(seen.size() == 100);
    CHECK(loader.next().epoch == 1);
    LoaderOptions big = o;
    big.batch_size = 200;
    CHECK_THROWS_WITH_AS(Loader(d, big), doctest::Contains("103 examples make no batch of 200 with drop_last"),
                         gs::Error);
}

TEST_CASE("loader shuts its prefetch thread down cleanly mid-epoch") {
    const Dataset d = synthetic(200);
    std::atomic<int> built{0};
    LoaderOptions o;
    o.batch_size = 4;
    o.prefetch = 3;
    // A slow step: the worker is inside a batch when the loader is destroyed.
    o.transform = Pipeline().to_float().add("slow", [&](const Tensor& x, Generator&) {
        ++built;
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        return x;
    });
    const auto t0 = std::chrono::steady_clock::now();
    {
        Loader loader(d, o);
        loader.next();
        loader.next();
    }
    { Loader never_used(d, o); }  // no worker was started: destruction is immediate
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    CHECK(seconds < 1.0);  // 2 batches + at most the queue (3) + the one in flight, 20 ms each
    CHECK(built.load() <= 6);
    // With a fast pipeline the queue fills up to `prefetch` and the worker waits, not spins ahead.
    LoaderOptions fast;
    fast.batch_size = 4;
    fast.prefetch = 2;
    std::atomic<int> count{0};
    fast.transform = Pipeline().add("count", [&](const Tensor& x, Generator&) {
        ++count;
        return x;
    });
    Loader loader(d, fast);
    loader.next();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    CHECK(count.load() <= 1 + 2 + 1);  // consumed + queued + the one waiting for space
}

TEST_CASE("loader rethrows a worker's exception at the failing batch until seek") {
    const Dataset d = synthetic(50);
    LoaderOptions o;
    o.batch_size = 10;
    o.shuffle = false;
    // Fails for the batch that starts at position 30 of any epoch (gen.offset is the position).
    o.transform = Pipeline().to_float().add("fail_at_30", [](const Tensor& x, Generator& g) {
        GS_CHECK(g.offset != 30, "synthetic failure at position ", g.offset);
        return x;
    });
    for (std::int64_t prefetch : {0, 3}) {
        CAPTURE(prefetch);
        o.prefetch = prefetch;
        Loader loader(d, o);
        for (int b = 0; b < 3; ++b) CHECK(loader.next().index == b);
        CHECK_THROWS_WITH_AS(loader.next(), doctest::Contains("synthetic failure at position 30"), gs::Error);
        CHECK_THROWS_WITH_AS(loader.next(), doctest::Contains("synthetic failure at position 30"), gs::Error);
        loader.seek(0, 4);
        CHECK(loader.next().index == 4);
        CHECK(loader.next().epoch == 1);
    }
}

TEST_CASE("loader rejects mismatched inputs") {
    const Dataset d = synthetic(10);
    CHECK_THROWS_WITH_AS(Loader(d.images, d.labels.narrow(0, 0, 9)), doctest::Contains("labels must be i64 (10)"),
                         gs::Error);
    LoaderOptions o;
    o.batch_size = 0;
    CHECK_THROWS_WITH_AS(Loader(d, o), doctest::Contains("batch_size must be positive"), gs::Error);
}
