// CUDA tensors against the CPU: transfers, copies (strided, broadcast, converting), fills, random
// fills (bit for bit), the allocator, and the errors of mixed devices and element reads. Every
// case is skipped without a GPU.
#include <doctest/doctest.h>

#include "cuda_test_util.h"
#include "tensor/cuda_allocator.h"
#include "tensor/random.h"
#include "test_util.h"

using gs::DType;
using gs::Device;
using gs::Tensor;
using gs::test::check_close;
using gs::test::check_equal;
using gs::test::gpu;

namespace {
// Values in [0, 200) as f64, representable in every dtype after truncation.
Tensor nonneg(const gs::Shape& shape, std::uint64_t seed) {
    gs::Generator g(seed);
    return gs::uniform(shape, g, 0.0, 200.0, DType::f64);
}
}  // namespace

TEST_CASE("cuda tensor: to(Device) round trips every dtype and odd sizes") {
    GS_REQUIRE_GPU();
    for (std::int64_t n : {0, 1, 7, 33, 129, 100003}) {
        const Tensor x = nonneg({n}, std::uint64_t(n));
        for (DType dt : {DType::f32, DType::f64, DType::i64, DType::u8}) {
            const Tensor c = x.to(dt);
            const Tensor d = c.to(gpu());
            CHECK(d.device() == gpu());
            CHECK(d.to(gpu()).shares_storage(d));  // already there: no copy
            const Tensor back = d.to(Device::cpu());
            CHECK(back.device().is_cpu());
            CHECK(back.to_vector<double>() == c.to_vector<double>());
        }
    }
    // A non-contiguous source arrives as a contiguous tensor of the same shape and values.
    const Tensor m = nonneg({5, 7}, 3).t();
    const Tensor md = m.to(gpu());
    CHECK(md.is_contiguous());
    CHECK(md.shape() == m.shape());
    CHECK(md.to(Device::cpu()).to_vector<double>() == m.to_vector<double>());
    // More than one staging buffer (64 MiB) of data.
    const Tensor big = nonneg({9 * 1000 * 1000}, 5);  // 72 MB of f64
    CHECK(big.to(gpu()).to(Device::cpu()).to_vector<double>() == big.to_vector<double>());
}

TEST_CASE("cuda tensor: copy_ through strided and broadcast views with dtype conversion matches the CPU") {
    GS_REQUIRE_GPU();
    const Tensor src = nonneg({4, 1, 6}, 11);
    for (DType to : {DType::f32, DType::f64, DType::i64, DType::u8}) {
        for (DType from : {DType::f32, DType::f64, DType::i64, DType::u8}) {
            const Tensor s = src.to(from);
            // Destination: a transposed slice of a bigger tensor, written through the view.
            Tensor cpu_dst = Tensor::zeros({6, 5, 4}, to);
            Tensor gpu_dst = Tensor::zeros({6, 5, 4}, to, gpu());
            cpu_dst.slice(1, 0, 5, 2).permute({2, 1, 0}).copy_(s);
            gpu_dst.slice(1, 0, 5, 2).permute({2, 1, 0}).copy_(s.to(gpu()));
            check_equal(gpu_dst, cpu_dst, std::string("copy_ ") + gs::dtype_name(from) + " -> " + gs::dtype_name(to));
        }
    }
    // contiguous(), clone(), to(dtype) of a CUDA view.
    const Tensor v = nonneg({7, 9}, 12).to(DType::f32);
    const Tensor vd = v.to(gpu());
    check_equal(vd.t().contiguous(), v.t().contiguous(), "contiguous of a transpose");
    check_equal(vd.slice(1, 1, 9, 3).clone(), v.slice(1, 1, 9, 3).clone(), "clone of a slice");
    check_equal(vd.t().to(DType::f64), v.t().to(DType::f64), "to(f64) of a transpose");
    check_equal(gs::concat({vd, vd.slice(0, 0, 2)}, 0), gs::concat({v, v.slice(0, 0, 2)}, 0), "concat");
}

TEST_CASE("cuda tensor: a value outside the destination range is an error on CUDA as on the CPU") {
    GS_REQUIRE_GPU();
    const Tensor x = Tensor::from_vector(std::vector<double>{1.0, 300.0, 2.0}).to(gpu());
    CHECK_THROWS_WITH_AS(x.to(DType::u8), doctest::Contains("cannot convert value 300 (f64) to u8"), gs::Error);
    const Tensor nan = Tensor::full({3}, std::nan(""), DType::f32, gpu());
    CHECK_THROWS_WITH_AS(nan.to(DType::i64), doctest::Contains("outside the i64 range"), gs::Error);
    // The device is still usable afterwards.
    CHECK(x.to(DType::f32).to(Device::cpu()).to_vector<float>() == std::vector<float>{1, 300, 2});
}

TEST_CASE("cuda tensor: zeros ones full and fill_ on CUDA including strided views") {
    GS_REQUIRE_GPU();
    for (DType dt : {DType::f32, DType::f64, DType::i64, DType::u8}) {
        check_equal(Tensor::zeros({3, 5}, dt, gpu()), Tensor::zeros({3, 5}, dt), "zeros");
        check_equal(Tensor::ones({129}, dt, gpu()), Tensor::ones({129}, dt), "ones");
        check_equal(Tensor::full({2, 3, 4}, 7.0, dt, gpu()), Tensor::full({2, 3, 4}, 7.0, dt), "full");
        Tensor c = Tensor::zeros({4, 6}, dt), d = Tensor::zeros({4, 6}, dt, gpu());
        c.slice(1, 1, 6, 2).fill_(5.0);
        d.slice(1, 1, 6, 2).fill_(5.0);
        check_equal(d, c, "fill_ of a strided view");
    }
    check_equal(Tensor::zeros({0, 3}, DType::f32, gpu()), Tensor::zeros({0, 3}), "empty");
    CHECK_THROWS_WITH_AS(Tensor::full({2}, 300.0, DType::u8, gpu()), doctest::Contains("outside the range of u8"), gs::Error);
}

TEST_CASE("cuda tensor: element reads and mixed devices throw with a clear message") {
    GS_REQUIRE_GPU();
    const Tensor d = Tensor::ones({2, 2}, DType::f32, gpu());
    CHECK_THROWS_WITH_AS(d.at<float>({0, 0}), doctest::Contains("needs a CPU tensor, this one is on cuda:0"), gs::Error);
    CHECK_THROWS_WITH_AS(Tensor::ones({1}, DType::f32, gpu()).item(), doctest::Contains("cuda:0"), gs::Error);
    CHECK_THROWS_WITH_AS(d.to_vector<float>(), doctest::Contains("copy it with .to(Device::cpu())"), gs::Error);
    Tensor c = Tensor::ones({2, 2});
    CHECK_THROWS_WITH_AS(c.copy_(d), doctest::Contains("cuda:0"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::concat({c, d}, 0), doctest::Contains("cuda:0"), gs::Error);
    CHECK(d.str().find("device=cuda:0") != std::string::npos);
}

TEST_CASE("cuda tensor: random fills draw the CPU numbers bit for bit") {
    GS_REQUIRE_GPU();
    for (DType dt : {DType::f32, DType::f64}) {
        gs::Generator gc(42, 3), gg(42, 3);
        check_equal(gs::uniform({1001}, gg, -2.0, 3.0, dt, gpu()), gs::uniform({1001}, gc, -2.0, 3.0, dt), "uniform");
        CHECK(gc == gg);
        check_equal(gs::bernoulli({777}, gg, 0.3, dt, gpu()), gs::bernoulli({777}, gc, 0.3, dt), "bernoulli");
        // Box-Muller needs log and cos, whose CUDA versions may differ from glibc's by an ulp or two.
        check_close(gs::normal({1001}, gg, 1.0, 2.0, dt, gpu()), gs::normal({1001}, gc, 1.0, 2.0, dt),
                    dt == DType::f32 ? 1e-6 : 1e-14, 0.0, "normal");
        Tensor a = Tensor::empty({33}, dt), b = Tensor::empty({33}, dt, gpu());
        gs::uniform_(a, gc);
        gs::uniform_(b, gg);
        check_equal(b, a, "uniform_");
        CHECK(gc == gg);
    }
    gs::Generator gc(9), gg(9);
    check_equal(gs::randint({513}, gg, -1000000007, 1000000007, DType::i64, gpu()),
                gs::randint({513}, gc, -1000000007, 1000000007), "randint i64");
    check_equal(gs::randint({513}, gg, 0, 256, DType::u8, gpu()), gs::randint({513}, gc, 0, 256, DType::u8), "randint u8");
}

TEST_CASE("cuda tensor: the caching allocator reuses freed blocks") {
    GS_REQUIRE_GPU();
    { Tensor warm = Tensor::empty({1000, 1000}, DType::f32, gpu()); }
    const auto before = gs::cuda_allocator::stats(0);
    for (int i = 0; i < 10; ++i) {
        Tensor t = Tensor::empty({1000, 1000}, DType::f32, gpu());
        t.fill_(1.0);
    }
    const auto after = gs::cuda_allocator::stats(0);
    CHECK(after.fresh_allocations == before.fresh_allocations);
    CHECK(after.reused_allocations >= before.reused_allocations + 10);
    gs::cuda_allocator::empty_cache();
    CHECK(gs::cuda_allocator::stats(0).bytes_cached == 0);
    // An impossible request names its size and the device.
    CHECK_THROWS_WITH_AS(Tensor::empty({std::int64_t(1) << 50}, DType::u8, gpu()),
                         doctest::Contains("out of memory allocating"), gs::Error);
}
