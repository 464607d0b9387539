// Tensor: factories, views sharing storage, copies, conversions, errors.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include "tensor/allocator.h"
#include "tensor/tensor.h"

using gs::DType;
using gs::Shape;
using gs::Tensor;

TEST_CASE("tensor: factories and metadata") {
    Tensor z = Tensor::zeros({2, 3});
    CHECK(z.shape() == Shape{2, 3});
    CHECK(z.strides() == gs::Strides{3, 1});
    CHECK(z.numel() == 6);
    CHECK(z.dtype() == DType::f32);
    CHECK(z.device().is_cpu());
    CHECK(z.is_contiguous());
    for (float v : z.to_vector<float>()) CHECK(v == 0.0f);
    CHECK(Tensor::full({4}, 2.5, DType::f64).to_vector<double>() == std::vector<double>{2.5, 2.5, 2.5, 2.5});
    CHECK(Tensor::arange(5).to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 3, 4});
    CHECK(Tensor::arange(1.0, 2.0, 0.25, DType::f64).to_vector<double>() == std::vector<double>{1.0, 1.25, 1.5, 1.75});
    CHECK(Tensor::arange(3.0, 0.0, -1.0, DType::i64).to_vector<std::int64_t>() == std::vector<std::int64_t>{3, 2, 1});
    CHECK(Tensor::scalar(3.0).dim() == 0);
    CHECK(Tensor::scalar(3.0).item<float>() == 3.0f);
    CHECK(Tensor::empty({0, 4}).numel() == 0);
    CHECK(reinterpret_cast<std::uintptr_t>(Tensor::empty({3}).raw_data()) % 64 == 0);
}

TEST_CASE("tensor: views share storage") {
    Tensor x = Tensor::arange(0.0, 24.0, 1.0).reshape({2, 3, 4});
    Tensor p = x.permute({2, 0, 1});
    CHECK(p.shares_storage(x));
    CHECK(p.shape() == Shape{4, 2, 3});
    CHECK(p.at<float>({3, 1, 2}) == x.at<float>({1, 2, 3}));
    CHECK(!p.is_contiguous());

    Tensor s = x.slice(2, 1, 4, 2);  // columns 1 and 3
    CHECK(s.shape() == Shape{2, 3, 2});
    CHECK(s.at<float>({1, 2, 1}) == 23.0f);
    Tensor sel = x.select(1, -1);
    CHECK(sel.shape() == Shape{2, 4});
    CHECK(sel.at<float>({0, 0}) == 8.0f);
    Tensor n = x.narrow(0, 1, 1);
    CHECK(n.shape() == Shape{1, 3, 4});
    CHECK(n.at<float>({0, 0, 0}) == 12.0f);

    // Writing through a view changes the base.
    sel.fill_(-1.0);
    CHECK(x.at<float>({1, 2, 3}) == -1.0f);
    CHECK(x.at<float>({1, 1, 3}) == 19.0f);

    Tensor u = x.unsqueeze(1);
    CHECK(u.shape() == Shape{2, 1, 3, 4});
    CHECK(u.squeeze(1).shape() == Shape{2, 3, 4});
    CHECK(Tensor::zeros({1, 3, 1}).squeeze().shape() == Shape{3});

    Tensor e = Tensor::arange(0.0, 3.0, 1.0).reshape({3, 1}).expand({3, 4});
    CHECK(e.strides() == gs::Strides{1, 0});
    CHECK(e.at<float>({2, 3}) == 2.0f);
    CHECK(Tensor::arange(0.0, 3.0, 1.0).expand({2, 3}).at<float>({1, 2}) == 2.0f);

    Tensor t = x.transpose(0, 2);
    CHECK(t.shape() == Shape{4, 3, 2});
    CHECK(t.at<float>({0, 1, 1}) == x.at<float>({1, 1, 0}));
}

TEST_CASE("tensor: view versus reshape") {
    Tensor x = Tensor::arange(0.0, 12.0, 1.0).reshape({3, 4});
    CHECK(x.view({2, -1}).shares_storage(x));
    CHECK(x.view({2, 6}).at<float>({1, 0}) == 6.0f);
    // A transposed tensor cannot be flattened without a copy.
    Tensor t = x.t();
    CHECK_THROWS_WITH_AS(t.view({12}), doctest::Contains("without a copy"), gs::Error);
    Tensor r = t.reshape({12});
    CHECK(!r.shares_storage(x));
    CHECK(r.to_vector<float>() == std::vector<float>{0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11});
    // Viewing a slice whose rows stay contiguous works.
    Tensor rows = Tensor::arange(0.0, 24.0, 1.0).reshape({6, 4}).slice(0, 1, 4);
    CHECK(rows.view({3, 2, 2}).shares_storage(rows));
    CHECK(rows.view({12}).at<float>({11}) == 15.0f);
    CHECK(x.flatten().shape() == Shape{12});
    CHECK(Tensor::zeros({2, 3, 4, 5}).flatten(1, 2).shape() == Shape{2, 12, 5});
}

TEST_CASE("tensor: contiguous / clone / copy_ and dtype conversion") {
    Tensor x = Tensor::arange(0.0, 6.0, 1.0, DType::f64).reshape({2, 3});
    Tensor c = x.t().contiguous();
    CHECK(c.is_contiguous());
    CHECK(c.to_vector<double>() == std::vector<double>{0, 3, 1, 4, 2, 5});
    CHECK(x.contiguous().shares_storage(x));
    CHECK(!x.clone().shares_storage(x));

    Tensor dst = Tensor::zeros({2, 3}, DType::f32);
    dst.copy_(Tensor::arange(0.0, 3.0, 1.0, DType::i64));  // broadcast and convert
    CHECK(dst.to_vector<float>() == std::vector<float>{0, 1, 2, 0, 1, 2});
    Tensor u = Tensor::full({2}, 300.0, DType::f64).to(DType::i64);
    CHECK(u.to_vector<std::int64_t>() == std::vector<std::int64_t>{300, 300});
    CHECK(Tensor::full({1}, 7.9, DType::f32).to(DType::u8).item<int>() == 7);

    // copy_ through a transposed destination.
    Tensor d2 = Tensor::zeros({3, 2});
    d2.t().copy_(Tensor::arange(0.0, 6.0, 1.0).reshape({2, 3}));
    CHECK(d2.to_vector<float>() == std::vector<float>{0, 3, 1, 4, 2, 5});

    // NaN survives a copy and a conversion.
    Tensor nan = Tensor::full({2}, std::numeric_limits<double>::quiet_NaN(), DType::f64);
    CHECK(std::isnan(nan.to(DType::f32).at<float>({1})));
}

TEST_CASE("tensor: concat and stack") {
    Tensor a = Tensor::arange(0.0, 6.0, 1.0).reshape({2, 3});
    Tensor b = Tensor::full({1, 3}, 9.0);
    Tensor c = gs::concat({a, b}, 0);
    CHECK(c.shape() == Shape{3, 3});
    CHECK(c.at<float>({2, 1}) == 9.0f);
    Tensor d = gs::concat({a, a.slice(1, 0, 1)}, -1);
    CHECK(d.shape() == Shape{2, 4});
    CHECK(d.at<float>({1, 3}) == 3.0f);
    Tensor s = gs::stack({a, a}, 1);
    CHECK(s.shape() == Shape{2, 2, 3});
    CHECK(s.at<float>({1, 1, 2}) == 5.0f);
    CHECK_THROWS_WITH_AS(gs::concat({a, Tensor::zeros({2, 2})}, 0), doctest::Contains("incompatible"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::concat({a, a.to(DType::f64)}, 0), doctest::Contains("f64"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::stack({a, b}, 0), doctest::Contains("shape"), gs::Error);
}

TEST_CASE("tensor: bad input gives clear errors") {
    Tensor x = Tensor::zeros({2, 3});
    CHECK_THROWS_WITH_AS(x.reshape({4, 2}), doctest::Contains("cannot reshape [2, 3]"), gs::Error);
    CHECK_THROWS_WITH_AS(x.reshape({-1, -1}), doctest::Contains("more than one -1"), gs::Error);
    CHECK_THROWS_WITH_AS(x.permute({0, 0}), doctest::Contains("appears twice"), gs::Error);
    CHECK_THROWS_WITH_AS(x.select(1, 3), doctest::Contains("index 3 is out of range for dim 1 of size 3"), gs::Error);
    CHECK_THROWS_WITH_AS(x.narrow(0, 1, 2), doctest::Contains("out of bounds"), gs::Error);
    CHECK_THROWS_WITH_AS(x.transpose(0, 2), doctest::Contains("dim 2 is out of range"), gs::Error);
    CHECK_THROWS_WITH_AS(x.expand({3, 3}), doctest::Contains("cannot expand shape [2, 3] to [3, 3]"), gs::Error);
    CHECK_THROWS_WITH_AS(x.data<double>(), doctest::Contains("requested f64 but the tensor is f32"), gs::Error);
    CHECK_THROWS_WITH_AS(x.item(), doctest::Contains("expected one element"), gs::Error);
    CHECK_THROWS_WITH_AS(x.at({0, 5}), doctest::Contains("index 5 is out of range"), gs::Error);
    CHECK_THROWS_WITH_AS(Tensor::empty({2, -1}), doctest::Contains("negative size"), gs::Error);
    CHECK_THROWS_WITH_AS(Tensor().contiguous(), doctest::Contains("undefined"), gs::Error);
    CHECK_THROWS_WITH_AS(Tensor::from_vector(std::vector<float>{1, 2, 3}, {2, 2}), doctest::Contains("do not fill"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::broadcast_shapes({2, 3}, {4, 3}, "add"),
                         doctest::Contains("add: shapes [2, 3] and [4, 3] cannot be broadcast"), gs::Error);
}

TEST_CASE("tensor: devices") {
    CHECK(gs::Device::parse("cpu") == gs::Device::cpu());
    CHECK(gs::Device::parse("cuda:1") == gs::Device::cuda(1));
    CHECK_THROWS_WITH_AS(gs::Device::parse("gpu"), doctest::Contains("invalid device 'gpu'"), gs::Error);
    // Without a GPU (or without the CUDA backend) asking for a CUDA tensor is an error naming the
    // device, never a silent CPU tensor.
    if (!gs::cuda_available()) {
        CHECK_THROWS_WITH_AS(Tensor::zeros({2}, DType::f32, gs::Device::cuda(0)), doctest::Contains("cuda:0"), gs::Error);
        CHECK_THROWS_WITH_AS(Tensor::zeros({2}).to(gs::Device::cuda(0)), doctest::Contains("cuda:0"), gs::Error);
    }
    MESSAGE("CUDA backend built: " << gs::cuda_built() << ", GPUs visible: " << gs::cuda_device_count());
}

TEST_CASE("tensor: printing") {
    Tensor x = Tensor::arange(0.0, 6.0, 1.0).reshape({2, 3});
    const std::string s = x.str();
    CHECK(s.find("shape=[2, 3], dtype=f32, device=cpu") != std::string::npos);
    CHECK(s.find("[[0, 1, 2],\n [3, 4, 5]]") != std::string::npos);
    CHECK(Tensor::zeros({5000}).str().find("...") != std::string::npos);
    CHECK(x.describe() == "[2, 3] f32 cpu");
}

TEST_CASE("allocator: freed blocks are reused / aligned / and counted") {
    namespace A = gs::cpu_allocator;
    CHECK(A::round_size(1) == 64);
    CHECK(A::round_size(1000) >= 1000);
    CHECK(A::round_size(1000) <= 1250);
    CHECK(A::round_size(1 << 20) == (1 << 20));
    const std::size_t bytes = 3 * 1000 * 1000 + 17;
    void* p = A::allocate(bytes);
    CHECK(reinterpret_cast<std::uintptr_t>(p) % 64 == 0);
    A::deallocate(p, bytes);
    const auto before = A::stats();
    // A steady-state loop of same-sized tensors takes nothing fresh from the system.
    for (int i = 0; i < 10; ++i) {
        Tensor t = Tensor::empty({750000}, DType::f32);
        t.fill_(1.0);
    }
    const auto after = A::stats();
    CHECK(after.fresh_allocations == before.fresh_allocations);
    CHECK(after.reused_allocations >= before.reused_allocations + 10);
}

TEST_CASE("allocator: a request takes a cached block up to twice its size class and never a much larger one") {
    namespace A = gs::cpu_allocator;
    // Sizes no other test uses, so the blocks below are the only cached ones of these classes.
    const std::size_t big = 7 * 1000 * 1000 + 3, smaller = 5 * 1000 * 1000 + 3, tiny = 1000 * 1000 + 3;
    void* p = A::allocate(big);
    A::deallocate(p, big);
    const auto before = A::stats();
    void* q = A::allocate(smaller);  // 5 MB fits the cached 7 MB block (within 2x)
    CHECK(A::stats().fresh_allocations == before.fresh_allocations);
    CHECK(A::stats().bytes_in_use - before.bytes_in_use >= std::int64_t(A::round_size(big)));
    CHECK(A::stats().peak_bytes_in_use >= A::stats().bytes_in_use);
    A::deallocate(q, smaller);  // given back under the size it was asked for; the block keeps its class
    CHECK(A::stats().bytes_in_use == before.bytes_in_use);
    void* r = A::allocate(tiny);  // 1 MB must not pin the cached 7 MB block
    CHECK(r != p);
    A::deallocate(r, tiny);
    int local = 0;
    CHECK_THROWS_WITH_AS(A::deallocate(&local, sizeof local), doctest::Contains("did not hand out"), gs::Error);
}

TEST_CASE("tensor: sizes that overflow are errors and never wrapped allocations") {
    CHECK_THROWS_WITH_AS(Tensor::zeros({std::int64_t(1) << 62}), doctest::Contains("needs more bytes"), gs::Error);
    CHECK_THROWS_WITH_AS(Tensor::zeros({std::int64_t(1) << 32, std::int64_t(1) << 32}),
                         doctest::Contains("more elements than an int64 holds"), gs::Error);
    auto storage = std::make_shared<gs::Storage>(64, gs::Device::cpu());
    CHECK_THROWS_WITH_AS(Tensor(storage, {2}, {std::int64_t(1) << 62}, 0, DType::f32),
                         doctest::Contains("reaches outside its storage"), gs::Error);
    CHECK_THROWS_WITH_AS(Tensor(storage, {2}, {1}, -1, DType::f32), doctest::Contains("reaches outside"), gs::Error);
    // A huge step selects only the first element.
    Tensor x = Tensor::arange(5);
    CHECK(x.slice(0, 0, 5, std::numeric_limits<std::int64_t>::max()).to_vector<std::int64_t>() ==
          std::vector<std::int64_t>{0});
    CHECK(x.slice(0, 1, 5, 3).to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 4});
    CHECK(x.slice(0, 4, 2).numel() == 0);
}

TEST_CASE("tensor: copy_ between overlapping views of one storage") {
    // Shift rows 0-1 into rows 1-2: every row must receive the old value of the row above.
    Tensor a = Tensor::arange(12).view({3, 4});
    a.slice(0, 1, 3).slice(1, 0, 3).copy_(a.slice(0, 0, 2).slice(1, 0, 3));
    CHECK(a.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 3, 0, 1, 2, 7, 4, 5, 6, 11});
    // Shifting a flat range right by one.
    Tensor b = Tensor::arange(6);
    b.slice(0, 1, 6).copy_(b.slice(0, 0, 5));
    CHECK(b.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 1, 2, 3, 4});
    // Copying a view onto itself is allowed and changes nothing.
    Tensor c = Tensor::arange(6);
    c.copy_(c);
    CHECK(c.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5});
    // A destination whose elements share memory is rejected (the result would depend on threads).
    Tensor e = Tensor::zeros({1, 8}).expand({8, 8});
    CHECK_THROWS_WITH_AS(e.copy_(Tensor::ones({8, 8})), doctest::Contains("share memory"), gs::Error);
}

TEST_CASE("tensor: conversions that leave the target range are errors") {
    CHECK_THROWS_WITH_AS(Tensor::full({2}, 300.0, DType::f64).to(DType::u8),
                         doctest::Contains("cannot convert value 300 (f64) to u8"), gs::Error);
    CHECK_THROWS_WITH_AS(Tensor::full({1}, -1.0, DType::i64).to(DType::u8), doctest::Contains("value -1"), gs::Error);
    CHECK_THROWS_WITH_AS(Tensor::full({1}, std::nan(""), DType::f32).to(DType::i64), doctest::Contains("nan"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(Tensor::full({1}, 1e19, DType::f64).to(DType::i64), doctest::Contains("outside the i64 range"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(Tensor::full({2}, 256.0, DType::u8), doctest::Contains("outside the range of u8"), gs::Error);
    CHECK_THROWS_WITH_AS(Tensor::arange(0.0, 300.0, 1.0, DType::u8), doctest::Contains("does not fit u8"), gs::Error);
    CHECK(Tensor::full({1}, 255.0, DType::f64).to(DType::u8).item<int>() == 255);
    CHECK(Tensor::full({1}, -9.2e18, DType::f64).to(DType::i64).item<std::int64_t>() == std::int64_t(-9.2e18));
    CHECK(std::isinf(Tensor::full({1}, 1e300, DType::f64).to(DType::f32).item<float>()));
}

TEST_CASE("allocator: poisoned blocks read as NaN so unassigned outputs cannot pass") {
    // The suite runs with poisoning on (tests/main.cpp); a fresh tensor is all NaN until written.
    Tensor t = Tensor::empty({33}, DType::f64);
    for (double v : t.to_vector<double>()) CHECK(std::isnan(v));
    CHECK(Tensor::empty({3}, DType::i64).to_vector<std::int64_t>() == std::vector<std::int64_t>{-1, -1, -1});
}
