// The GPU-free parts of the CUDA backend, checked on the CPU: the caching allocator's free lists and
// out-of-memory policy (with a fake backend), its size classes, the strided indexer the kernels
// use, launch geometry, and the dtype range check shared by both copy loops.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>

#include "tensor/block_cache.h"
#include "tensor/convert.h"
#include "tensor/indexer.h"
#include "tensor/launch.h"
#include "kernels/pool.h"
#include "tensor/tensor.h"

using gs::BlockCache;

namespace {

// A backend over malloc with a byte budget per device, recording what it was asked to do.
struct FakeDevice {
    std::map<int, std::size_t> budget, used;
    std::map<void*, std::pair<int, std::size_t>> live;
    int allocs = 0, frees = 0, syncs = 0;

    BlockCache::Backend backend() {
        return {[this](int d, std::size_t bytes) -> void* {
                    if (used[d] + bytes > budget[d]) return nullptr;
                    void* p = std::malloc(bytes);
                    used[d] += bytes;
                    live[p] = {d, bytes};
                    ++allocs;
                    return p;
                },
                [this](int d, void* p) {
                    CHECK(live.at(p).first == d);
                    used[d] -= live.at(p).second;
                    live.erase(p);
                    std::free(p);
                    ++frees;
                },
                [this](int) { ++syncs; }};
    }
};

std::string name(int d) { return "cuda:" + std::to_string(d); }

}  // namespace

TEST_CASE("cuda allocator: size classes are at least 512 bytes with at most 25 percent waste") {
    CHECK(gs::cuda_round_size(0) == 512);
    CHECK(gs::cuda_round_size(1) == 512);
    CHECK(gs::cuda_round_size(512) == 512);
    CHECK(gs::cuda_round_size(513) == 1024);
    CHECK(gs::cuda_round_size(1536) == 1536);
    CHECK(gs::cuda_round_size(1 << 20) == (1 << 20));
    CHECK(gs::cuda_round_size((1 << 20) + 1) == (1 << 20) + (1 << 18));
    for (std::size_t b : {std::size_t(700), std::size_t(3000), std::size_t(123457), std::size_t(98765431)}) {
        const std::size_t r = gs::cuda_round_size(b);
        CHECK(r >= b);
        CHECK(r % 512 == 0);
        CHECK(double(r) <= 1.25 * double(b) + 512);
        CHECK(gs::cuda_round_size(r) == r);  // a class is its own class
    }
}

TEST_CASE("cuda allocator: freed blocks are reused per device and stream and counted") {
    FakeDevice dev;
    dev.budget[0] = dev.budget[1] = 1 << 20;
    BlockCache cache(dev.backend(), "CUDA", name);
    void* a = cache.allocate(0, 7, 1000);
    CHECK(cache.stats(0).bytes_in_use == 1024);
    cache.deallocate(a);
    CHECK(cache.stats(0).bytes_in_use == 0);
    CHECK(cache.stats(0).bytes_cached == 1024);
    // Same class, device and stream: the same block comes back without a backend call.
    CHECK(cache.allocate(0, 7, 900) == a);
    CHECK(dev.allocs == 1);
    CHECK(cache.stats(0).reused_allocations == 1);
    // Another stream or device never gets it (a kernel on that stream could still be using it).
    void* b = cache.allocate(0, 8, 900);
    void* c = cache.allocate(1, 7, 900);
    CHECK(b != a);
    CHECK(c != a);
    CHECK(dev.allocs == 3);
    CHECK(cache.stats(1).fresh_allocations == 1);
    cache.deallocate(a);
    cache.deallocate(b);
    cache.deallocate(c);
    CHECK_THROWS_WITH_AS(cache.deallocate(reinterpret_cast<void*>(0x1234)), doctest::Contains("did not allocate"),
                         gs::Error);
    // empty_cache for one device synchronizes it and gives its blocks back, the other keeps its own.
    cache.release_cached(0);
    CHECK(dev.syncs == 1);
    CHECK(cache.stats(0).bytes_cached == 0);
    CHECK(cache.stats(1).bytes_cached == 1024);
    CHECK(dev.frees == 2);
    cache.release_cached();
    CHECK(dev.live.empty());
}

TEST_CASE("cuda allocator: out of memory frees the cache and retries then names size and device") {
    FakeDevice dev;
    dev.budget[0] = 4096;
    BlockCache cache(dev.backend(), "CUDA", name);
    void* a = cache.allocate(0, 0, 2048);
    void* b = cache.allocate(0, 0, 1024);
    cache.deallocate(a);  // 2048 cached, 1024 in use, 1024 free on the "device"
    // 3000 rounds to 3072: only fits once the cached 2048 are given back.
    void* c = cache.allocate(0, 0, 3000);
    CHECK(c != nullptr);
    CHECK(dev.syncs == 1);
    CHECK(cache.stats(0).bytes_cached == 0);
    CHECK(cache.stats(0).bytes_in_use == 1024 + 3072);
    // Nothing left to free: the error names the rounded and requested sizes and the device.
    CHECK_THROWS_WITH_AS(cache.allocate(0, 0, 5000), doctest::Contains("out of memory allocating 5120 bytes (5000 requested) on cuda:0"),
                         gs::Error);
    cache.deallocate(b);
    cache.deallocate(c);
    cache.release_cached();
    CHECK(dev.live.empty());
}

TEST_CASE("strided indexer: offsets match for_each_row on strided and broadcast operands") {
    // Operand 0 contiguous [3, 4, 5]; operand 1 a permuted view; operand 2 broadcast along dim 1.
    const gs::Shape shape{3, 4, 5};
    const std::array<gs::Strides, 3> strides{gs::Strides{20, 5, 1}, gs::Strides{1, 15, 3}, gs::Strides{5, 0, 1}};
    const std::array<std::int64_t, 3> base{0, 2, 7};
    std::vector<std::array<std::int64_t, 3>> expected;
    gs::for_each_row<3>(shape, strides, base,
                        [&](const std::array<std::int64_t, 3>& off, std::int64_t n, const std::array<std::int64_t, 3>& inc) {
                            for (std::int64_t j = 0; j < n; ++j)
                                expected.push_back({off[0] + j * inc[0], off[1] + j * inc[1], off[2] + j * inc[2]});
                        });
    // for_each_row may run rows in any order; operand 0 is contiguous, so its offset is the element.
    std::sort(expected.begin(), expected.end());
    const auto ix = gs::make_strided_indexer<3>(shape, strides, base);
    REQUIRE(expected.size() == 60);
    for (std::int64_t i = 0; i < 60; ++i) {
        std::int64_t off[3];
        ix.offsets(i, off);
        CHECK(off[0] == expected[std::size_t(i)][0]);
        CHECK(off[1] == expected[std::size_t(i)][1]);
        CHECK(off[2] == expected[std::size_t(i)][2]);
    }
    // Contiguous operands merge into one dim; a single element has none.
    CHECK(gs::make_strided_indexer<1>({6, 7}, {gs::Strides{7, 1}}, {0}).ndim == 1);
    CHECK(gs::make_strided_indexer<1>({1, 1}, {gs::Strides{1, 1}}, {3}).ndim == 0);
    std::int64_t off1[1];
    gs::make_strided_indexer<1>({1}, {gs::Strides{1}}, {3}).offsets(0, off1);
    CHECK(off1[0] == 3);
}

TEST_CASE("cuda launch geometry: enough blocks for every element and never more than the cap") {
    CHECK(gs::grid_size(0) == 1);
    CHECK(gs::grid_size(1) == 1);
    CHECK(gs::grid_size(256) == 1);
    CHECK(gs::grid_size(257) == 2);
    CHECK(gs::grid_size(std::int64_t(1) << 40) == gs::kMaxBlocks);
    CHECK(gs::grid_size(1000, 128) == 8);
}

TEST_CASE("dtype range check: what converts and what does not") {
    CHECK(gs::fits<std::int64_t>(3.0));
    CHECK_FALSE(gs::fits<std::int64_t>(9.3e18));
    CHECK_FALSE(gs::fits<std::int64_t>(std::nan("")));
    CHECK(gs::fits<std::uint8_t>(255.5));
    CHECK_FALSE(gs::fits<std::uint8_t>(256.0));
    CHECK_FALSE(gs::fits<std::uint8_t>(-1.0));
    CHECK_FALSE(gs::fits<std::uint8_t>(std::int64_t(300)));
    CHECK(gs::fits<std::int64_t>(std::uint8_t(200)));
    CHECK(gs::fits<float>(1e300));  // rounds to inf, as IEEE defines
}

TEST_CASE("pool geometry: covering ranges are exactly the windows that contain a pixel") {
    // Brute force over odd geometries: output o covers pixel i iff start(o) <= i < start(o) + k.
    for (std::int64_t k : {1, 2, 3, 5})
        for (std::int64_t s : {1, 2, 3})
            for (std::int64_t p = 0; 2 * p <= k; ++p)
                for (std::int64_t H : {1, 4, 7, 11}) {
                    gs::kernels::Pool2dGeometry g{k, k, s, s, p, p};
                    const std::int64_t OH = g.out_h(H);
                    if (OH <= 0) continue;
                    for (std::int64_t i = 0; i < H; ++i) {
                        std::int64_t begin = 0, end = 0;
                        g.covering_h(i, OH, begin, end);
                        for (std::int64_t o = 0; o < OH; ++o) {
                            const bool covers = g.start_h(o) <= i && i < g.start_h(o) + k;
                            INFO("k=" << k << " s=" << s << " p=" << p << " H=" << H << " i=" << i << " o=" << o);
                            CHECK(covers == (o >= begin && o < end));
                        }
                        g.covering_w(i, OH, begin, end);
                        CHECK(begin <= end);
                    }
                    // The clipped window stays inside the input.
                    const auto w = g.window(OH - 1, 0, H, H);
                    CHECK(w.h0 >= 0);
                    CHECK(w.h1 <= H);
                    CHECK(w.h0 < w.h1);
                }
}
