// parallel_for_if: every index once, and no enclosing team when it runs serially, so that code
// called from the body (gemm, the conv kernels) can still use all the threads without starting
// new ones.
#include <doctest/doctest.h>
#include <omp.h>

#include <atomic>
#include <vector>

#include "kernels/parallel_cpu.h"

using gs::kernels::cpu::parallel_for_if;

TEST_CASE("parallel_for_if visits every index once and opens no team when serial") {
    const int saved_threads = omp_get_max_threads();
    omp_set_num_threads(2);
    constexpr std::int64_t n = 37;
    for (const bool parallel : {false, true}) {
        CAPTURE(parallel);
        std::vector<std::atomic<int>> visits(n);
        std::vector<int> levels(n, -1), order;
        parallel_for_if(parallel, n, [&](std::int64_t i) {
            visits[std::size_t(i)] += 1;
            levels[std::size_t(i)] = omp_get_level();
            if (!parallel) order.push_back(int(i));
        });
        for (std::int64_t i = 0; i < n; ++i) CHECK(visits[std::size_t(i)] == 1);
        if (parallel) {
            CHECK(levels[0] == 1);
        } else {
            // Level 0: a region nested in the body is a top-level one and takes the thread pool.
            for (std::int64_t i = 0; i < n; ++i) CHECK(levels[std::size_t(i)] == 0);
            for (std::int64_t i = 0; i < n; ++i) CHECK(order[std::size_t(i)] == i);
        }
    }
    omp_set_num_threads(saved_threads);
}
