// PooledArray: a kernel's per-call buffer comes from the pooled allocator and goes back to it, so
// calling the kernel again takes no fresh pages from the system.
#include <doctest/doctest.h>

#include "kernels/scratch.h"
#include "tensor/allocator.h"

using gs::kernels::cpu::PooledArray;
namespace A = gs::cpu_allocator;

TEST_CASE("PooledArray takes its block from the pool and keeps it when shrinking and gives it back") {
    // An element count no other test allocates, so its size class starts empty here.
    constexpr std::size_t n = 3'100'003;
    const auto start = A::stats();
    {
        PooledArray<float> a(n);
        CHECK(a.size() == n);
        CHECK(A::stats().bytes_in_use - start.bytes_in_use >= std::int64_t(n * sizeof(float)));
        float* const first = a.data();
        a.resize(n / 2);  // shrinking keeps the block
        CHECK(a.data() == first);
        CHECK(a.size() == n / 2);
        CHECK(a.end() - a.begin() == std::ptrdiff_t(n / 2));
        a.resize(2 * n);  // growing takes a new block and returns the old one
        CHECK(A::stats().bytes_in_use - start.bytes_in_use < std::int64_t(3 * n * sizeof(float)));
        CHECK(A::stats().bytes_in_use - start.bytes_in_use >= std::int64_t(2 * n * sizeof(float)));
        for (std::size_t i = 0; i < a.size(); i += 4096) a[i] = float(i);
        CHECK(a[4096] == 4096.0f);
    }
    CHECK(A::stats().bytes_in_use == start.bytes_in_use);
    // A second call of the same size is served from the pool.
    const auto before = A::stats();
    {
        PooledArray<float> b(n);
        CHECK(A::stats().fresh_allocations == before.fresh_allocations);
        CHECK(A::stats().reused_allocations == before.reused_allocations + 1);
    }
    CHECK(A::stats().bytes_in_use == start.bytes_in_use);
}
