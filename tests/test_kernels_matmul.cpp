// kernels::matmul and matmul_sum_to against a naive loop: 1-d, 2-d, batched with broadcasting,
// transposed and other strided views, and shape errors.
#include <doctest/doctest.h>

#include <cmath>
#include <array>
#include <cstdint>
#include <vector>

#include "kernels/matmul.h"
#include "tensor/random.h"
#include "test_util.h"

namespace {

using gs::Shape;
using gs::Tensor;
using i64 = std::int64_t;
using gs::test::max_abs_diff;
using gs::test::randu;

// Naive (F..., M, K) x (F..., K, N) with the batch dims broadcast; both inputs at least 2-d.
Tensor naive_matmul(const Tensor& a, const Tensor& b) {
    const Shape ba(a.shape().begin(), a.shape().end() - 2), bb(b.shape().begin(), b.shape().end() - 2);
    Shape full = gs::broadcast_shapes(ba, bb, "test");
    const i64 M = a.size(-2), K = a.size(-1), N = b.size(-1);
    Shape sa = full, sb = full, so = full;
    sa.insert(sa.end(), {M, K});
    sb.insert(sb.end(), {K, N});
    so.insert(so.end(), {M, N});
    const auto A = a.expand(sa).to_vector<double>();
    const auto B = b.expand(sb).to_vector<double>();
    std::vector<double> C(std::size_t(gs::numel(so)));
    for (i64 f = 0; f < gs::numel(full); ++f)
        for (i64 i = 0; i < M; ++i)
            for (i64 j = 0; j < N; ++j) {
                double s = 0;
                for (i64 k = 0; k < K; ++k) s += A[std::size_t((f * M + i) * K + k)] * B[std::size_t((f * K + k) * N + j)];
                C[std::size_t((f * M + i) * N + j)] = s;
            }
    return Tensor::from_vector(C, so);
}

// Rounding of a K-term dot product of values in [-1, 1].
template <class T>
double tol(i64 K) {
    return (sizeof(T) == 4 ? 3e-6 : 1e-14) * double(K + 4);
}

}  // namespace

TEST_CASE_TEMPLATE("matmul 2-d matches a naive loop on odd shapes", T, float, double) {
    gs::Generator g(11);
    for (auto [M, K, N] : std::vector<std::array<i64, 3>>{{1, 1, 1}, {7, 33, 129}, {129, 7, 33}, {33, 129, 1}}) {
        Tensor a = randu<T>({M, K}, g), b = randu<T>({K, N}, g);
        Tensor c = gs::kernels::matmul(a, b);
        CHECK(c.shape() == Shape{M, N});
        CHECK(c.dtype() == gs::dtype_of<T>());
        CHECK(max_abs_diff(c, naive_matmul(a, b)) <= tol<T>(K));
    }
}

TEST_CASE_TEMPLATE("matmul of transposed and strided views", T, float, double) {
    gs::Generator g(12);
    const i64 M = 33, K = 17, N = 9;
    Tensor at = randu<T>({K, M}, g), bt = randu<T>({N, K}, g);
    // Transposed views go to gemm with trans flags; the result must be the same as for copies.
    Tensor a = at.t(), b = bt.t();
    CHECK(!a.is_contiguous());
    CHECK(max_abs_diff(gs::kernels::matmul(a, b), naive_matmul(a.contiguous(), b.contiguous())) <= tol<T>(K));
    CHECK(max_abs_diff(gs::kernels::matmul(a, b.contiguous()), naive_matmul(a, b)) <= tol<T>(K));
    // A column slice (row stride > cols) and a step-2 slice (no unit stride: copied).
    Tensor wide = randu<T>({M, 3 * K}, g);
    Tensor a1 = wide.narrow(1, 5, K), a2 = wide.slice(1, 0, 2 * K, 2);
    CHECK(max_abs_diff(gs::kernels::matmul(a1, b), naive_matmul(a1, b)) <= tol<T>(K));
    CHECK(max_abs_diff(gs::kernels::matmul(a2, b), naive_matmul(a2, b)) <= tol<T>(K));
    // Single rows / columns cut from transposed matrices: a unit dim with a non-unit stride in the other.
    Tensor row = at.t().narrow(0, 2, 1);  // (1, K), strides (1, M)
    Tensor col = bt.t().narrow(1, 3, 1);  // (K, 1), strides (1, K)
    CHECK(max_abs_diff(gs::kernels::matmul(row, b), naive_matmul(row.contiguous(), b)) <= tol<T>(K));
    CHECK(max_abs_diff(gs::kernels::matmul(a, col), naive_matmul(a, col.contiguous())) <= tol<T>(K));
    CHECK(max_abs_diff(gs::kernels::matmul(row, col), naive_matmul(row.contiguous(), col.contiguous())) <= tol<T>(K));
    // Batched single rows whose row stride is not K (a slice of wider rows), with a shared b.
    Tensor rows = randu<T>({4, 1, 2 * K}, g).narrow(2, 1, K);
    CHECK(max_abs_diff(gs::kernels::matmul(rows, b), naive_matmul(rows.contiguous(), b)) <= tol<T>(K));
    // Batched transposes: (B, K, M) -> (B, M, K).
    Tensor ab = randu<T>({3, K, M}, g).transpose(1, 2);
    Tensor bb = randu<T>({3, N, K}, g).transpose(1, 2);
    CHECK(max_abs_diff(gs::kernels::matmul(ab, bb), naive_matmul(ab, bb)) <= tol<T>(K));
}

TEST_CASE_TEMPLATE("matmul with 1-d operands", T, float, double) {
    gs::Generator g(13);
    const i64 K = 33;
    Tensor v = randu<T>({K}, g), w = randu<T>({K}, g), m = randu<T>({7, K}, g), n = randu<T>({K, 5}, g);
    Tensor dot = gs::kernels::matmul(v, w);
    CHECK(dot.dim() == 0);
    CHECK(max_abs_diff(dot, naive_matmul(v.unsqueeze(0), w.unsqueeze(1)).view({})) <= tol<T>(K));
    Tensor mv = gs::kernels::matmul(m, v);
    CHECK(mv.shape() == Shape{7});
    CHECK(max_abs_diff(mv, naive_matmul(m, v.unsqueeze(1)).view({7})) <= tol<T>(K));
    Tensor vn = gs::kernels::matmul(v, n);
    CHECK(vn.shape() == Shape{5});
    CHECK(max_abs_diff(vn, naive_matmul(v.unsqueeze(0), n).view({5})) <= tol<T>(K));
    // 1-d with a batched operand: (K) x (2, 3, K, 5) -> (2, 3, 5); (2, 3, 7, K) x (K) -> (2, 3, 7).
    Tensor nb = randu<T>({2, 3, K, 5}, g), mb = randu<T>({2, 3, 7, K}, g);
    Tensor vnb = gs::kernels::matmul(v, nb);
    CHECK(vnb.shape() == Shape{2, 3, 5});
    CHECK(max_abs_diff(vnb, naive_matmul(v.unsqueeze(0), nb).view({2, 3, 5})) <= tol<T>(K));
    Tensor mbv = gs::kernels::matmul(mb, v);
    CHECK(mbv.shape() == Shape{2, 3, 7});
    CHECK(max_abs_diff(mbv, naive_matmul(mb, v.unsqueeze(1)).view({2, 3, 7})) <= tol<T>(K));
}

TEST_CASE_TEMPLATE("batched matmul broadcasts batch dims", T, float, double) {
    gs::Generator g(14);
    const i64 M = 7, K = 33, N = 5;
    struct Case {
        Shape a, b, out;
    };
    const Case cases[] = {
        {{4, M, K}, {4, K, N}, {4, M, N}},           // plain batch
        {{4, M, K}, {K, N}, {4, M, N}},              // shared b: folded into one gemm
        {{M, K}, {3, K, N}, {3, M, N}},              // shared a
        {{2, 1, M, K}, {3, K, N}, {2, 3, M, N}},     // broadcast in both
        {{1, 3, M, K}, {2, 1, K, N}, {2, 3, M, N}},  // broadcast in both, size-1 dims
        {{0, M, K}, {K, N}, {0, M, N}},              // empty batch
    };
    for (const Case& c : cases) {
        Tensor a = randu<T>(c.a, g), b = randu<T>(c.b, g);
        Tensor out = gs::kernels::matmul(a, b);
        CAPTURE(gs::shape_str(c.a));
        CAPTURE(gs::shape_str(c.b));
        CHECK(out.shape() == c.out);
        CHECK(max_abs_diff(out, naive_matmul(a, b)) <= tol<T>(K));
    }
    // An expanded (stride-0) batch dim on the input itself.
    Tensor a = randu<T>({1, M, K}, g).expand({5, M, K}), b = randu<T>({5, K, N}, g);
    CHECK(max_abs_diff(gs::kernels::matmul(a, b), naive_matmul(a.contiguous(), b)) <= tol<T>(K));
}

TEST_CASE_TEMPLATE("matmul_sum_to sums over broadcast batch entries", T, float, double) {
    gs::Generator g(15);
    const i64 M = 5, K = 9, N = 7;
    Tensor a = randu<T>({2, 3, M, K}, g), b = randu<T>({2, 3, K, N}, g);
    Tensor full = naive_matmul(a, b);  // (2, 3, M, N)
    // Reference sums over dims of the full product.
    auto sum_dims = [&](const Shape& keep_shape) {
        const auto v = full.to_vector<double>();
        std::vector<double> r(std::size_t(gs::numel(keep_shape) ), 0.0);
        for (i64 i = 0; i < 2; ++i)
            for (i64 j = 0; j < 3; ++j)
                for (i64 e = 0; e < M * N; ++e) {
                    i64 o = 0;
                    if (keep_shape.size() == 4) o = ((keep_shape[0] == 1 ? 0 : i) * keep_shape[1] + (keep_shape[1] == 1 ? 0 : j));
                    else if (keep_shape.size() == 3) o = keep_shape[0] == 1 ? 0 : j;
                    r[std::size_t(o * M * N + e)] += v[std::size_t((i * 3 + j) * M * N + e)];
                }
        return Tensor::from_vector(r, keep_shape);
    };
    for (const Shape& ob : std::vector<Shape>{{}, {1}, {3}, {2, 1}, {1, 3}, {2, 3}}) {
        Tensor out = gs::kernels::matmul_sum_to(a, b, ob);
        Shape expect = ob;
        expect.insert(expect.end(), {M, N});
        CAPTURE(gs::shape_str(ob));
        CHECK(out.shape() == expect);
        CHECK(max_abs_diff(out, sum_dims(expect)) <= 6 * tol<T>(K));  // up to 6 products summed
    }
    // The folded reduction path: a read transposed with batch entries stacked along K, b stacked
    // along K (the weight gradient of a linear layer on (2, 3, K, .) inputs).
    Tensor x = randu<T>({2, 3, K, M}, g), dy = randu<T>({2, 3, K, N}, g);
    Tensor dw = gs::kernels::matmul_sum_to(x.transpose(-1, -2), dy, {});
    Tensor ref = naive_matmul(x.reshape({6 * K, M}).t().contiguous(), dy.reshape({6 * K, N}));
    CHECK(max_abs_diff(dw, ref) <= tol<T>(6 * K));
    CHECK_THROWS_WITH_AS(gs::kernels::matmul_sum_to(a, b, {4}), doctest::Contains("does not broadcast"), gs::Error);
}

TEST_CASE("matmul errors name the shapes") {
    Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({4, 5});
    CHECK_THROWS_WITH_AS(gs::kernels::matmul(a, b), doctest::Contains("[2, 3] and [4, 5]"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::matmul(Tensor::zeros({2, 3, 4}), Tensor::zeros({5, 4, 2})),
                         doctest::Contains("matmul"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::matmul(Tensor::zeros({3}), Tensor::zeros({4})), doctest::Contains("[3] and [4]"),
                         gs::Error);
    CHECK_THROWS_AS(gs::kernels::matmul(Tensor::scalar(1.0), Tensor::zeros({4})), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::matmul(Tensor::zeros({2, 3}), Tensor::zeros({3, 2}, gs::DType::f64)),
                         doctest::Contains("matmul"), gs::Error);
    CHECK_THROWS_WITH_AS(gs::kernels::matmul(Tensor::zeros({2, 3}, gs::DType::i64), Tensor::zeros({3, 2}, gs::DType::i64)),
                         doctest::Contains("f32 or f64"), gs::Error);
}

TEST_CASE("matmul with an empty inner dim gives zeros") {
    Tensor c = gs::kernels::matmul(Tensor::zeros({3, 0}), Tensor::zeros({0, 2}));
    CHECK(c.shape() == Shape{3, 2});
    for (double x : c.to_vector<double>()) CHECK(x == 0.0);
}
