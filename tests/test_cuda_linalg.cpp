// The GPU Cholesky (cuSOLVER potrf), triangular solves (cuBLAS trsm) and RBF kernel against the CPU
// on the same inputs, f32 and f64: factors with and without a ridge, a garbage upper triangle, both
// solve directions with matrix and vector right-hand sides, the not-positive-definite error, and the
// exact symmetry of the RBF kernel of x with itself. Skips (GS_REQUIRE_GPU) without a CUDA device.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_compare.h"
#include "kernels/cholesky.h"
#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/rbf.h"

namespace {

using gs::Shape;
using gs::Tensor;
using gs::test::gpu;
using i64 = std::int64_t;
namespace k = gs::kernels;

// A = B B^T / n + I (eigenvalues in about [1, 5]): errors follow the working precision.
template <class T>
Tensor random_spd(i64 n, std::uint64_t seed) {
    const Tensor b = gs::test::randn<double>({n, n}, seed);
    Tensor a = k::matmul(b, b.t());
    a = k::affine(a, 1.0 / double(n), 0.0);
    for (i64 i = 0; i < n; ++i) a.narrow(0, i, 1).narrow(1, i, 1).fill_(a.at<double>({i, i}) + 1.0);
    return a.to(gs::dtype_of<T>());
}

// Relative to the largest |value| of the CPU result. f64: different blocking and summation order
// (1e-15 per op, n <= 300 terms, cond <= 5). f32: the same at 1e-7 per op.
template <class T>
double tol() {
    return std::is_same_v<T, double> ? 1e-11 : 2e-5;
}

template <class T>
void close(const Tensor& on_gpu, const Tensor& on_cpu, const std::string& what) {
    gs::test::check_close_to_scale(on_gpu, on_cpu, tol<T>(), what);
}

}  // namespace

TEST_CASE_TEMPLATE("cuda cholesky and triangular solves match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    for (i64 n : {1, 7, 64, 300}) {
        CAPTURE(n);
        const Tensor a = random_spd<T>(n, 3 + std::uint64_t(n));
        // The upper triangle is never read: fill it with garbage on both sides.
        Tensor messy = a.clone();
        for (i64 i = 0; i + 1 < n; ++i) messy.narrow(0, i, 1).narrow(1, i + 1, n - i - 1).fill_(1e3);
        for (double lambda : {0.0, 0.25}) {
            CAPTURE(lambda);
            const Tensor l = k::cholesky(messy, lambda);
            const Tensor lg = k::cholesky(gpu(messy), lambda);
            close<T>(lg, l, "factor");
            Tensor inplace = gpu(messy);
            k::cholesky_inplace(inplace, lambda);
            close<T>(inplace, l, "factor in place");
            const Tensor b = gs::test::randn<T>({n, 3}, 17), v = gs::test::randn<T>({n}, 18);
            for (bool transpose : {false, true}) {
                close<T>(k::triangular_solve(lg, gpu(b), transpose), k::triangular_solve(l, b, transpose), "solve matrix");
                close<T>(k::triangular_solve(lg, gpu(v), transpose), k::triangular_solve(l, v, transpose), "solve vector");
            }
            close<T>(k::cholesky_solve(gpu(messy), gpu(b), lambda), k::cholesky_solve(messy, b, lambda), "spd solve");
            close<T>(k::cholesky_solve_factored(lg, gpu(v)), k::cholesky_solve_factored(l, v), "factored solve");
        }
    }
}

TEST_CASE("cuda cholesky rejects a matrix that is not positive definite and names the row") {
    GS_REQUIRE_GPU();
    Tensor a = random_spd<double>(6, 4);
    a.narrow(0, 3, 1).narrow(1, 3, 1).fill_(-1.0);  // pivot 3 turns negative
    CHECK_THROWS_WITH_AS(k::cholesky(gpu(a)), doctest::Contains("not positive definite: pivot 3 is not > 0"), gs::Error);
    // NaN, which potrf may not flag itself, is named at its row as on the CPU ("is nan" from our
    // diagonal check, or "is not > 0" should potrf report it).
    Tensor n = random_spd<double>(6, 5);
    n.narrow(0, 4, 1).narrow(1, 2, 1).fill_(std::nan(""));
    CHECK_THROWS_WITH_AS(k::cholesky(gpu(n)), doctest::Contains("not positive definite: pivot 4 is"), gs::Error);
    CHECK_THROWS_WITH_AS(k::cholesky(n), doctest::Contains("pivot 4 is nan"), gs::Error);
    CHECK_THROWS_WITH_AS(k::triangular_solve(gpu(a), a.narrow(1, 0, 1), false), doctest::Contains("triangular_solve"),
                         gs::Error);
}

TEST_CASE_TEMPLATE("cuda rbf kernel and distances match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    // Pixel-like inputs in [0, 1] as in the experiments; gamma 0.02 (papers.md).
    const Tensor x = k::affine(gs::test::randn<T>({37, 50}, 21), 0.2, 0.5), y = k::affine(gs::test::randn<T>({29, 50}, 22), 0.2, 0.5);
    const Tensor gx = gpu(x), gy = gpu(y);
    close<T>(k::pairwise_sq_dist(gx, gy), k::pairwise_sq_dist(x, y), "distances");
    close<T>(k::rbf_kernel(gx, gy, 0.02), k::rbf_kernel(x, y, 0.02), "kernel");
    const Tensor kxx = k::rbf_kernel(gx, gx, 0.02);
    close<T>(kxx, k::rbf_kernel(x, x, 0.02), "kernel of x with itself");
    // Exactly symmetric with an exactly 1 diagonal, as on the CPU.
    const Tensor h = kxx.to(gs::Device::cpu());
    CHECK(h.to_vector<double>() == h.t().contiguous().to_vector<double>());
    for (i64 i = 0; i < 37; ++i) CHECK(h.at<double>({i, i}) == 1.0);
    const Tensor dxx = k::pairwise_sq_dist(gx, gx).to(gs::Device::cpu());
    for (i64 i = 0; i < 37; ++i) CHECK(dxx.at<double>({i, i}) == 0.0);
}
