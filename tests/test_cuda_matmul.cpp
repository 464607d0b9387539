// cuBLAS matmul (kernels::matmul / matmul_sum_to on CUDA tensors) against the CPU path on fresh
// random inputs: odd 2-d shapes, transposed views, batched with and without broadcasting, 1-d
// operands, every reduction pattern of matmul_sum_to (both folds and the strided-batched loop),
// empty dims; f32 and f64. Skips (GS_REQUIRE_GPU) without a CUDA device.
#include <doctest/doctest.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "cuda_compare.h"
#include "kernels/cuda_settings.h"
#include "kernels/matmul.h"
#include "tensor/random.h"

namespace {

using gs::Shape;
using gs::Tensor;
using i64 = std::int64_t;
using gs::test::check_close;
using gs::test::gpu;
using gs::test::randu;

// Two K-term dot products of values in [-1, 1] (cuBLAS and the CPU gemm), each within about K
// roundings of the exact sum, summed in different orders. TF32 is off (the math mode is pinned),
// so f32 products are exact-rounded as on the CPU.
template <class T>
double tol(i64 K) {
    return (sizeof(T) == 4 ? 6e-6 : 2e-14) * double(K + 4);
}

// matmul on the GPU against the CPU for the CPU tensors a, b (any views: the same view is taken
// of the GPU copies by `view`).
template <class T, class View>
void compare(const Tensor& a, const Tensor& b, View view, i64 K, const std::string& what) {
    const Tensor want = gs::kernels::matmul(view(a, 0), view(b, 1));
    const Tensor got = gs::kernels::matmul(view(gpu(a), 0), view(gpu(b), 1));
    check_close(got, want, 0, tol<T>(K), what);
}

auto same = [](const Tensor& t, int) { return t; };

}  // namespace

TEST_CASE("cuda settings default to off and round-trip") {
    // Runs everywhere (the flags are plain process settings).
    CHECK_FALSE(gs::kernels::allow_tf32());
    CHECK_FALSE(gs::kernels::deterministic());
    gs::kernels::set_allow_tf32(true);
    gs::kernels::set_deterministic(true);
    CHECK(gs::kernels::allow_tf32());
    CHECK(gs::kernels::deterministic());
    gs::kernels::set_allow_tf32(false);
    gs::kernels::set_deterministic(false);
    CHECK_FALSE(gs::kernels::allow_tf32());
}

TEST_CASE_TEMPLATE("cuda matmul 2-d matches the CPU on odd shapes", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(101);
    for (auto [M, K, N] : std::vector<std::array<i64, 3>>{{1, 1, 1}, {7, 33, 129}, {129, 7, 33}, {33, 129, 1}, {1, 65, 17}}) {
        const Tensor a = randu<T>({M, K}, g), b = randu<T>({K, N}, g);
        compare<T>(a, b, same, K, "2-d " + std::to_string(M) + "x" + std::to_string(K) + "x" + std::to_string(N));
    }
}

TEST_CASE_TEMPLATE("cuda matmul of transposed and strided views matches the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(102);
    const i64 M = 33, K = 17, N = 7;
    // a stored (K, M) and b stored (N, K), both used transposed (cuBLAS OP_T on each side).
    compare<T>(randu<T>({K, M}, g), randu<T>({N, K}, g), [](const Tensor& t, int) { return t.t(); }, K, "both transposed");
    compare<T>(randu<T>({K, M}, g), randu<T>({K, N}, g), [](const Tensor& t, int i) { return i == 0 ? t.t() : t; }, K,
               "a transposed");
    // Column slices: a leading dimension larger than the row (lda > K), and a column-strided
    // view that must be copied first.
    compare<T>(randu<T>({M, 2 * K}, g), randu<T>({K, N}, g),
               [K](const Tensor& t, int i) { return i == 0 ? t.narrow(1, 3, K) : t; }, K, "lda > K");
    compare<T>(randu<T>({M, 2 * K}, g), randu<T>({K, N}, g),
               [](const Tensor& t, int i) { return i == 0 ? t.slice(1, 0, t.size(1), 2) : t; }, K, "column stride 2");
}

TEST_CASE_TEMPLATE("cuda batched matmul with broadcasting matches the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(103);
    const i64 M = 9, K = 13, N = 5;
    struct Case {
        Shape a, b;
        const char* name;
    };
    for (const Case& c : std::vector<Case>{
             {{4, M, K}, {4, K, N}, "equal batches (strided batched)"},
             {{4, M, K}, {K, N}, "b shared (rows folded)"},
             {{M, K}, {4, K, N}, "a shared (stride 0)"},
             {{2, 1, M, K}, {3, K, N}, "2x1 by 3 broadcast"},
             {{2, 3, M, K}, {1, 3, K, N}, "leading broadcast"},
             {{K}, {3, K, N}, "1-d by batched"},
             {{2, M, K}, {K}, "batched by 1-d"},
             {{K}, {K}, "dot product"},
         }) {
        compare<T>(randu<T>(c.a, g), randu<T>(c.b, g), same, K, c.name);
    }
    // A transposed batch: (4, K, M) viewed as (4, M, K) (OP_T inside a strided-batched call).
    compare<T>(randu<T>({4, K, M}, g), randu<T>({4, K, N}, g),
               [](const Tensor& t, int i) { return i == 0 ? t.transpose(-1, -2) : t; }, K, "batched transposed a");
}

TEST_CASE_TEMPLATE("cuda matmul_sum_to matches the CPU for every reduction", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(104);
    const i64 M = 5, K = 9, N = 7;
    const Tensor a = randu<T>({2, 3, M, K}, g), b = randu<T>({2, 3, K, N}, g);
    for (const Shape& ob : std::vector<Shape>{{}, {1}, {3}, {2, 1}, {1, 3}, {2, 3}}) {
        CAPTURE(gs::shape_str(ob));
        const Tensor want = gs::kernels::matmul_sum_to(a, b, ob);
        const Tensor got = gs::kernels::matmul_sum_to(gpu(a), gpu(b), ob);
        check_close(got, want, 0, 6 * tol<T>(K), "sum_to " + gs::shape_str(ob));  // up to 6 products summed
    }
    // The folded reduction (a read transposed, stacked along K): one GEMM with inner size 6K.
    const Tensor x = randu<T>({2, 3, K, M}, g), dy = randu<T>({2, 3, K, N}, g);
    const Tensor want = gs::kernels::matmul_sum_to(x.transpose(-1, -2), dy, {});
    const Tensor got = gs::kernels::matmul_sum_to(gpu(x).transpose(-1, -2), gpu(dy), {});
    check_close(got, want, 0, tol<T>(6 * K), "inner-folded weight gradient");
}

TEST_CASE_TEMPLATE("cuda matmul with empty dims", T, float, double) {
    GS_REQUIRE_GPU();
    // K = 0: an empty sum, so zeros (written by a memset, not left uninitialized).
    const Tensor c = gs::kernels::matmul(gpu(Tensor::zeros({3, 0}, gs::dtype_of<T>())),
                                         gpu(Tensor::zeros({0, 2}, gs::dtype_of<T>())));
    check_close(c, Tensor::zeros({3, 2}, gs::dtype_of<T>()), 0, 0, "K = 0");
    // M = 0 and an empty batch: empty results of the right shape.
    const Tensor e = gs::kernels::matmul(gpu(Tensor::zeros({0, 4}, gs::dtype_of<T>())),
                                         gpu(Tensor::zeros({4, 3}, gs::dtype_of<T>())));
    CHECK(e.shape() == Shape{0, 3});
    const Tensor f = gs::kernels::matmul(gpu(Tensor::zeros({0, 2, 4}, gs::dtype_of<T>())),
                                         gpu(Tensor::zeros({4, 3}, gs::dtype_of<T>())));
    CHECK(f.shape() == Shape{0, 2, 3});
}

TEST_CASE("cuda matmul refuses mixed devices") {
    GS_REQUIRE_GPU();
    CHECK_THROWS_WITH_AS(gs::kernels::matmul(gpu(Tensor::zeros({2, 3})), Tensor::zeros({3, 2})),
                         doctest::Contains("cuda:0"), gs::Error);
}
