// kernels::gemm against a naive triple loop: transposes, alpha/beta, odd shapes, padded leading
// dimensions, write-only C when beta == 0, and thread-count independence.
#include <doctest/doctest.h>
#include <omp.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "kernels/gemm.h"
#include "tensor/error.h"

namespace {

using i64 = std::int64_t;

template <class T>
std::vector<T> random_vector(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    std::vector<T> v(n);
    for (auto& x : v) x = T(dist(rng));
    return v;
}

// The reference: C = alpha*op(A)*op(B) + beta*C in long double, C not read when beta == 0.
template <class T>
void naive_gemm(bool ta, bool tb, i64 M, i64 N, i64 K, T alpha, const T* A, i64 lda, const T* B, i64 ldb, T beta,
                T* C, i64 ldc) {
    for (i64 i = 0; i < M; ++i)
        for (i64 j = 0; j < N; ++j) {
            long double s = 0;
            for (i64 k = 0; k < K; ++k) {
                const T a = ta ? A[k * lda + i] : A[i * lda + k];
                const T b = tb ? B[j * ldb + k] : B[k * ldb + j];
                s += (long double)a * b;
            }
            C[i * ldc + j] = T(alpha * s + (beta == T(0) ? 0.0L : (long double)beta * C[i * ldc + j]));
        }
}

struct Case {
    i64 M, N, K;
};

// Runs one configuration and compares with the reference. `pad` is added to each minimal leading
// dimension; the padding of C must be left untouched.
template <class T>
void check_case(bool ta, bool tb, Case c, T alpha, T beta, i64 pad, bool nan_c) {
    const i64 lda = (ta ? c.M : c.K) + pad, ldb = (tb ? c.K : c.N) + pad, ldc = c.N + pad;
    const i64 a_rows = ta ? c.K : c.M, b_rows = tb ? c.N : c.K;
    auto A = random_vector<T>(std::size_t(std::max<i64>(a_rows * lda, 1)), 1);
    auto B = random_vector<T>(std::size_t(std::max<i64>(b_rows * ldb, 1)), 2);
    auto C = random_vector<T>(std::size_t(std::max<i64>(c.M * ldc, 1)), 3);
    if (nan_c)
        for (auto& x : C) x = std::numeric_limits<T>::quiet_NaN();
    auto R = C;
    gs::kernels::gemm<T>(ta, tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, C.data(), ldc);
    naive_gemm<T>(ta, tb, c.M, c.N, c.K, alpha, A.data(), lda, B.data(), ldb, beta, R.data(), ldc);
    // Sums of K products of numbers in [-1, 1]: float rounding grows like K * eps.
    const double tol = (sizeof(T) == 4 ? 2e-6 : 1e-14) * double(c.K + 4);
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
    INFO("ta=", ta, " tb=", tb, " M=", c.M, " N=", c.N, " K=", c.K, " alpha=", alpha, " beta=", beta, " pad=", pad);
    CHECK(bad == 0);
}

}  // namespace

TEST_CASE_TEMPLATE("gemm matches a naive loop for every transpose combination and odd shapes", T, float, double) {
    const Case cases[] = {{1, 1, 1}, {7, 7, 7}, {33, 33, 33}, {129, 7, 33}, {7, 129, 33}, {33, 129, 7},
                          {1, 129, 129}, {129, 1, 129}, {129, 129, 1}, {5, 300, 600}};
    for (bool ta : {false, true})
        for (bool tb : {false, true})
            for (const Case& c : cases) {
                check_case<T>(ta, tb, c, T(1), T(0), 0, false);
                check_case<T>(ta, tb, c, T(-0.5), T(2), 3, false);
            }
}

TEST_CASE_TEMPLATE("gemm with beta == 0 never reads C", T, float, double) {
    for (bool ta : {false, true})
        for (bool tb : {false, true}) {
            check_case<T>(ta, tb, {33, 17, 9}, T(1), T(0), 2, true);
            check_case<T>(ta, tb, {300, 70, 300}, T(1.5), T(0), 0, true);
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
    const i64 M = 301, N = 157, K = 700;  // several K blocks and several tiles
    auto A = random_vector<T>(std::size_t(M * K), 4);
    auto B = random_vector<T>(std::size_t(K * N), 5);
    std::vector<T> C1(std::size_t(M * N)), C2(std::size_t(M * N));
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    gs::kernels::gemm<T>(false, true, M, N, K, T(1), A.data(), K, B.data(), K, T(0), C1.data(), N);
    omp_set_num_threads(2);
    gs::kernels::gemm<T>(false, true, M, N, K, T(1), A.data(), K, B.data(), K, T(0), C2.data(), N);
    omp_set_num_threads(saved);
    CHECK(C1 == C2);  // bitwise: each element's k-sum order does not depend on the thread count
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
