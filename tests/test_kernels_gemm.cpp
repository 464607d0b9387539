// kernels::gemm against a naive triple loop: transposes, alpha/beta, odd shapes, padded leading
// dimensions, write-only C when beta == 0, and thread-count independence, on every micro-kernel
// ISA (generic, AVX2, AVX-512) this CPU can run.
#include <doctest/doctest.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "kernels/gemm.h"
#include "tensor/allocator.h"
#include "tensor/error.h"

namespace {

using i64 = std::int64_t;
using gs::kernels::cpu::GemmIsa;

// The ISAs this machine can run; the ones it cannot are named in the test log (not silently skipped).
std::vector<GemmIsa> runnable_isas() {
    std::vector<GemmIsa> isas;
    for (GemmIsa isa : {GemmIsa::generic, GemmIsa::avx2, GemmIsa::avx512}) {
        if (gs::kernels::cpu::gemm_isa_supported(isa))
            isas.push_back(isa);
        else {
            const std::string note =
                std::string("gemm: this CPU cannot run the ") + gs::kernels::cpu::gemm_isa_name(isa) + " kernels; not tested";
            MESSAGE(note);
        }
    }
    return isas;
}

// Selects an ISA for the scope of one test and restores the previous one after it.
struct IsaScope {
    GemmIsa saved = gs::kernels::cpu::gemm_isa();
    explicit IsaScope(GemmIsa isa) { gs::kernels::cpu::set_gemm_isa(isa); }
    ~IsaScope() { gs::kernels::cpu::set_gemm_isa(saved); }
    IsaScope(const IsaScope&) = delete;
    IsaScope& operator=(const IsaScope&) = delete;
};

// Runs gemm with `threads` OpenMP threads, restoring the previous setting.
template <class F>
void with_threads(int threads, F f) {
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    f();
    omp_set_num_threads(saved);
}

template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    std::vector<T> v(n);
    for (auto& x : v) x = T(dist(rng));
    return v;
}

// The reference: C = alpha*op(A)*op(B) + beta*C summed in double, C not read when beta == 0.
template <class T>
void naive_gemm(bool ta, bool tb, i64 M, i64 N, i64 K, T alpha, const T* A, i64 lda, const T* B, i64 ldb, T beta,
                T* C, i64 ldc) {
    for (i64 i = 0; i < M; ++i)
        for (i64 j = 0; j < N; ++j) {
            double s = 0;
            for (i64 k = 0; k < K; ++k) {
                const T a = ta ? A[k * lda + i] : A[i * lda + k];
                const T b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += double(a) * double(b);
            }
            C[i * ldc + j] = T(double(alpha) * s + (beta == T(0) ? 0.0 : double(beta) * double(C[i * ldc + j])));
        }
}

// Both the kernel and the reference round once per product-sum step: the error of a sum of K
// products of numbers in [-1, 1] grows like K * eps of T (eps 6e-8 f32, 1.1e-16 f64; margin ~30x).
template <class T>
double tolerance(i64 K) {
    return (sizeof(T) == 4 ? 2e-6 : 1e-14) * double(K + 4);
}

struct Case {
    i64 M, N, K;
};

// Runs one configuration on every ISA in `isas` and compares each with the reference (computed
// once). `pad` is added to each minimal leading dimension; the padding of C must be left untouched.
template <class T>
void check_case(const std::vector<GemmIsa>& isas, bool ta, bool tb, Case c, T alpha, T beta, i64 pad, bool nan_c) {
    const i64 lda = (ta ? c.M : c.K) + pad, ldb = (tb ? c.K : c.N) + pad, ldc = c.N + pad;
    const i64 a_rows = ta ? c.K : c.M, b_rows = tb ? c.N : c.K;
    auto A = random_vector<T>(std::size_t(std::max<i64>(a_rows * lda, 1)), 1);
    auto B = random_vector<T>(std::size_t(std::max<i64>(b_rows * ldb, 1)), 2);
    auto C0 = random_vector<T>(std::size_t(std::max<i64>(c.M * ldc, 1)), 3);
    if (nan_c)
        for (auto& x : C0) x = std::numeric_limits<T>::quiet_NaN();
    auto R = C0;
    naive_gemm<T>(ta, tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, R.data(), ldc);
    const double tol = tolerance<T>(c.K);
    for (GemmIsa isa : isas) {
        IsaScope scope(isa);
        auto C = C0;
        gs::kernels::gemm<T>(ta, tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
        int bad = 0;
        for (i64 i = 0; i < c.M; ++i)
            for (i64 j = 0; j < ldc; ++j) {
                const T got = C[i * ldc + j], want = R[i * ldc + j];
                if (j >= c.N) {
                    // Padding columns are outside C: still the seeded value (NaN stays NaN).
                    if (!(got == want || (std::isnan(got) && std::isnan(want)))) ++bad;
                } else if (!(std::abs(double(got) - double(want)) <= tol)) {
                    ++bad;
                }
            }
        INFO("isa=", gs::kernels::cpu::gemm_isa_name(isa), " ta=", ta, " tb=", tb, " M=", c.M, " N=", c.N,
             " K=", c.K, " alpha=", alpha, " beta=", beta, " pad=", pad);
        CHECK(bad == 0);
    }
}

}  // namespace

TEST_CASE_TEMPLATE("gemm matches a naive loop for every transpose combination and odd shapes", T, float, double) {
    // Edge tiles in every dimension, plus shapes that cross the cache blocks: M > MC (144),
    // K > KC (128..256, so C is updated in several k blocks), N > NC (1024 doubles / 2048 floats);
    // 301x35x300 and 67x600x200 are split between threads by rows and by columns.
    const Case cases[] = {{1, 1, 1},      {7, 7, 7},     {33, 33, 33},  {129, 7, 33}, {7, 129, 33},
                          {33, 129, 7},   {1, 129, 129}, {129, 1, 129}, {129, 129, 1}, {5, 300, 520},
                          {301, 35, 300}, {13, 2100, 3}, {128, 10, 200}, {67, 600, 200}};
    const auto isas = runnable_isas();
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (const Case& c : cases) {
                check_case<T>(isas, ta, tb, c, T(1), T(0), 0, false);
                check_case<T>(isas, ta, tb, c, T(-0.5), T(2), 3, false);
            }
}

TEST_CASE_TEMPLATE("gemm's small-K path matches a naive loop", T, float, double) {
    // K <= 16 with an untransposed B of at most 32 KB reads A and B in place, in tiles of 4 rows:
    // rows past the last whole tile, columns past the last whole vector (790, 37, 5: a zero-padded
    // copy of B's tail), both layouts of A, every alpha/beta rule and padded leading dimensions.
    const Case cases[] = {{128, 512, 10}, {130, 37, 16}, {5, 100, 1}, {129, 790, 10}, {3, 5, 2}, {64, 16, 12}};
    const auto isas = runnable_isas();
    for (bool ta : {false, true})
        for (const Case& c : cases) {
            check_case<T>(isas, ta, false, c, T(1), T(0), 0, true);
            check_case<T>(isas, ta, false, c, T(-0.5), T(2), 3, false);
            check_case<T>(isas, ta, false, c, T(1), T(-1.5), 1, false);
            check_case<T>(isas, ta, false, c, T(0.25), T(0), 2, true);
        }
}

TEST_CASE_TEMPLATE("gemm matches a naive loop on one thread and inside a parallel region", T, float, double) {
    // The serial paths: one OpenMP thread, and a call from inside a parallel region (gemm must not
    // fork again; each of the two callers writes its own C).
    const auto isas = runnable_isas();
    with_threads(1, [&] { check_case<T>(isas, false, true, {67, 45, 300}, T(0.75), T(-1), 1, false); });
    for (GemmIsa isa : isas) {
        IsaScope scope(isa);
        const i64 M = 70, N = 50, K = 290;
        auto A = random_vector<T>(std::size_t(M * K), 6);
        auto B = random_vector<T>(std::size_t(K * N), 7);
        std::vector<T> C0(std::size_t(M * N)), C1(std::size_t(M * N)), R(std::size_t(M * N));
#pragma omp parallel num_threads(2)
        {
            T* C = omp_get_thread_num() == 0 ? C0.data() : C1.data();
            gs::kernels::gemm<T>(false, false, M, N, K, T(1), A.data(), K, B.data(), N, T(0), C, N);
        }
        naive_gemm<T>(false, false, M, N, K, T(1), A.data(), K, B.data(), N, T(0), R.data(), N);
        const double tol = tolerance<T>(K);
        double worst = 0;
        for (std::size_t i = 0; i < R.size(); ++i)
            worst = std::max({worst, std::abs(double(C0[i]) - double(R[i])), std::abs(double(C1[i]) - double(R[i]))});
        INFO("isa=", gs::kernels::cpu::gemm_isa_name(isa));
        CHECK(worst <= tol);
    }
}

TEST_CASE_TEMPLATE("gemm with beta == 0 never reads C", T, float, double) {
    const auto isas = runnable_isas();
    for (bool ta : {false, true})
        for (bool tb : {false, true}) {
            check_case<T>(isas, ta, tb, {33, 17, 9}, T(1), T(0), 2, true);
            check_case<T>(isas, ta, tb, {300, 70, 300}, T(1.5), T(0), 0, true);
            check_case<T>(isas, ta, tb, {40, 5, 20}, T(1), T(0), 1, true);  // narrow C: computed as C^T
        }
    // K == 0: C = beta * C, so with beta == 0 the NaNs become zeros.
    std::vector<T> C(6, std::numeric_limits<T>::quiet_NaN());
    gs::kernels::gemm<T>(false, false, 2, 3, 0, T(1), nullptr, 1, nullptr, 3, T(0), C.data(), 3);
    for (T x : C) CHECK(x == T(0));
}

TEST_CASE_TEMPLATE("gemm with K == 0 or alpha == 0 scales C by beta", T, float, double) {
    std::vector<T> C = {1, 2, 3, 4};
    gs::kernels::gemm<T>(false, false, 2, 2, 0, T(1), nullptr, 1, nullptr, 2, T(3), C.data(), 2);
    CHECK(C == std::vector<T>{3, 6, 9, 12});
    std::vector<T> A = {1, 2, 3, 4}, B = {1, 0, 0, 1};
    gs::kernels::gemm<T>(false, false, 2, 2, 2, T(0), A.data(), 2, B.data(), 2, T(0.5), C.data(), 2);
    CHECK(C == std::vector<T>{1.5, 3, 4.5, 6});
}

TEST_CASE_TEMPLATE("gemm results are identical with 1 and 2 threads", T, float, double) {
    // Several K blocks and row blocks; the batch-128 training shapes, where the threads split the
    // columns (M <= N) or the rows; the chunked and the one-chunk-per-thread partitions.
    struct Shape {
        bool ta, tb;
        i64 M, N, K;
    };
    const Shape shapes[] = {{false, true, 301, 157, 700},
                            {false, true, 128, 512, 300},
                            {false, false, 128, 300, 260},
                            {true, false, 300, 200, 128},
                            {false, true, 128, 10, 512},
                            // small K, B read in place: the rows are split between the threads
                            {false, false, 1001, 500, 10},
                            {true, false, 999, 250, 16},
                            // op(A) over 4 MB: one static chunk per thread, packed block by block
                            {false, false, 264, 264, sizeof(T) == 4 ? 4200 : 2100}};
    for (GemmIsa isa : runnable_isas()) {
        IsaScope scope(isa);
        for (const Shape& s : shapes) {
            const i64 lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
            auto A = random_vector<T>(std::size_t(s.M * s.K), 4);
            auto B = random_vector<T>(std::size_t(s.K * s.N), 5);
            auto C1 = random_vector<T>(std::size_t(s.M * s.N), 6), C2 = C1;
            with_threads(1, [&] {
                gs::kernels::gemm<T>(s.ta, s.tb, s.M, s.N, s.K, T(1), A.data(), lda, B.data(), ldb, T(0.5), C1.data(), s.N);
            });
            with_threads(2, [&] {
                gs::kernels::gemm<T>(s.ta, s.tb, s.M, s.N, s.K, T(1), A.data(), lda, B.data(), ldb, T(0.5), C2.data(), s.N);
            });
            INFO("isa=", gs::kernels::cpu::gemm_isa_name(isa), " M=", s.M, " N=", s.N, " K=", s.K);
            CHECK(C1 == C2);  // bitwise: each element's k-sum order does not depend on the thread count
        }
    }
}

TEST_CASE("gemm takes no fresh memory once its buffers have grown") {
    // Packing buffers are per-thread scratch that only grows: repeating a call (any partition, any
    // ISA) must be served from them, since first writes to fresh pages are very slow here.
    struct Shape {
        bool ta, tb;
        i64 M, N, K;
    };
    const Shape shapes[] = {{false, true, 128, 512, 300}, {true, false, 300, 200, 128}, {false, false, 40, 50, 60},
                            {false, true, 128, 10, 300}};
    for (GemmIsa isa : runnable_isas()) {
        IsaScope scope(isa);
        with_threads(2, [&] {
            for (const Shape& s : shapes) {
                const i64 lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
                auto A = random_vector<float>(std::size_t(s.M * s.K), 8);
                auto B = random_vector<float>(std::size_t(s.K * s.N), 9);
                std::vector<float> C(std::size_t(s.M * s.N));
                auto call = [&] {
                    gs::kernels::gemm<float>(s.ta, s.tb, s.M, s.N, s.K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(),
                                             s.N);
                };
                call();
                const auto before = gs::cpu_allocator::stats().fresh_allocations;
                for (int r = 0; r < 3; ++r) call();
                INFO("isa=", gs::kernels::cpu::gemm_isa_name(isa), " M=", s.M, " N=", s.N, " K=", s.K);
                CHECK(gs::cpu_allocator::stats().fresh_allocations == before);
            }
        });
    }
}

TEST_CASE("gemm refuses an ISA the CPU cannot run") {
    using gs::kernels::cpu::gemm_isa_supported;
    CHECK(gemm_isa_supported(GemmIsa::generic));
    for (GemmIsa isa : {GemmIsa::avx2, GemmIsa::avx512}) {
        if (gemm_isa_supported(isa)) continue;
        const GemmIsa before = gs::kernels::cpu::gemm_isa();
        CHECK_THROWS_WITH_AS(gs::kernels::cpu::set_gemm_isa(isa), doctest::Contains("cannot run"), gs::Error);
        CHECK(gs::kernels::cpu::gemm_isa() == before);
    }
}

TEST_CASE("gemm rejects leading dimensions that are too small") {
    std::vector<float> A(12), B(12), C(12);
    CHECK_THROWS_WITH_AS(gs::kernels::gemm<float>(false, false, 3, 4, 3, 1.f, A.data(), 2, B.data(), 4, 0.f,
                                                  C.data(), 4),
                         doctest::Contains("lda=2"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::gemm<float>(false, false, 3, 4, 3, 1.f, A.data(), 3, B.data(), 4, 0.f,
                                                  C.data(), 3),
                         doctest::Contains("ldc=3"), gs::Error);
}

// The prepacked entry points against the reference: A through gemm_pack_a (both transposes), B
// packed here by hand from the layout documented in gemm.h, so a layout mismatch between the two
// sides fails. C is NaN-poisoned for beta == 0 and padded by one column that must stay untouched.
TEST_CASE_TEMPLATE("gemm_packed with gemm_pack_a matches a naive loop on every ISA", T, float, double) {
    for (GemmIsa isa : runnable_isas()) {
        IsaScope scope(isa);
        const gs::kernels::cpu::GemmTile tile = gs::kernels::cpu::gemm_tile<T>();
        CHECK(tile.isa == isa);
        for (const Case c : {Case{1, 1, 1}, Case{7, 17, 5}, Case{13, 33, 64}, Case{tile.mr, tile.nr, 3},
                             Case{2 * tile.mr + 1, 3 * tile.nr - 1, 40}}) {
            for (const bool ta : {false, true})
                for (const T beta : {T(0), T(0.5)}) {
                    INFO("isa=", gs::kernels::cpu::gemm_isa_name(isa), " M=", c.M, " N=", c.N, " K=", c.K,
                         " ta=", ta, " beta=", beta);
                    const i64 lda = ta ? c.M : c.K, ldc = c.N + 1;
                    auto A = random_vector<T>(std::size_t(c.M * c.K), 11);
                    auto B = random_vector<T>(std::size_t(c.K * c.N), 12);
                    auto C = random_vector<T>(std::size_t(c.M * ldc), 13);
                    if (beta == T(0))
                        for (i64 i = 0; i < c.M; ++i)
                            for (i64 j = 0; j < c.N; ++j) C[std::size_t(i * ldc + j)] = std::numeric_limits<T>::quiet_NaN();
                    auto R = C;
                    naive_gemm<T>(ta, false, c.M, c.N, c.K, T(1.5), A.data(), lda, B.data(), c.N, beta, R.data(), ldc);
                    const i64 Mp = (c.M + tile.mr - 1) / tile.mr * tile.mr, Np = (c.N + tile.nr - 1) / tile.nr * tile.nr;
                    std::vector<T> ap(std::size_t(Mp * c.K), std::numeric_limits<T>::quiet_NaN());
                    gs::kernels::cpu::gemm_pack_a<T>(tile, ta, c.M, c.K, A.data(), lda, ap.data());
                    std::vector<T> bp(std::size_t(Np * c.K), T(0));
                    for (i64 k = 0; k < c.K; ++k)
                        for (i64 j = 0; j < c.N; ++j)
                            bp[std::size_t((j / tile.nr) * tile.nr * c.K + k * tile.nr + j % tile.nr)] = B[std::size_t(k * c.N + j)];
                    gs::kernels::cpu::gemm_packed<T>(tile, c.M, c.N, c.K, T(1.5), ap.data(), bp.data(), beta, C.data(), ldc);
                    int bad = 0;
                    for (std::size_t i = 0; i < C.size(); ++i) {
                        const bool pad = i64(i) % ldc == c.N;
                        if (pad ? C[i] != R[i] : !(std::abs(double(C[i]) - double(R[i])) <= tolerance<T>(c.K))) ++bad;
                    }
                    CHECK(bad == 0);
                }
        }
    }
}
