// Gradient checks (f64 central differences) for autograd::matmul in every shape form, and linear.
#include <doctest/doctest.h>

#include "autograd/linalg.h"
#include "autograd/shape.h"
#include "test_util.h"

using gs::Shape;
using gs::autograd::Variable;
using V = std::vector<Variable>;

namespace {
auto mm = [](const V& v) { return gs::autograd::matmul(v[0], v[1]); };
}

TEST_CASE("gradcheck: matmul 1-d and 2-d") {
    using gs::test::check_grad;
    using gs::test::randn64;
    check_grad("matmul (M,K)x(K,N)", mm, {randn64({3, 4}, 1), randn64({4, 5}, 2)});
    check_grad("matmul (K)x(K)", mm, {randn64({4}, 3), randn64({4}, 4)});
    check_grad("matmul (M,K)x(K)", mm, {randn64({3, 4}, 5), randn64({4}, 6)});
    check_grad("matmul (K)x(K,N)", mm, {randn64({4}, 7), randn64({4, 5}, 8)});
    check_grad("matmul 1x1", mm, {randn64({1, 1}, 9), randn64({1, 1}, 10)});
}

TEST_CASE("gradcheck: batched matmul with broadcast batch dims") {
    using gs::test::check_grad;
    using gs::test::randn64;
    check_grad("matmul (B,M,K)x(B,K,N)", mm, {randn64({2, 3, 4}, 11), randn64({2, 4, 5}, 12)});
    check_grad("matmul (B,M,K)x(K,N)", mm, {randn64({2, 3, 4}, 13), randn64({4, 5}, 14)});
    check_grad("matmul (M,K)x(B,K,N)", mm, {randn64({3, 4}, 15), randn64({2, 4, 5}, 16)});
    check_grad("matmul (2,1,M,K)x(3,K,N)", mm, {randn64({2, 1, 3, 4}, 17), randn64({3, 4, 2}, 18)});
    check_grad("matmul (1,3,M,K)x(2,1,K,N)", mm, {randn64({1, 3, 2, 4}, 19), randn64({2, 1, 4, 3}, 20)});
    check_grad("matmul (K)x(B,K,N)", mm, {randn64({4}, 21), randn64({2, 4, 3}, 22)});
    check_grad("matmul (B,M,K)x(K)", mm, {randn64({2, 3, 4}, 23), randn64({4}, 24)});
}

TEST_CASE("gradcheck: matmul of transposed views / and one operand without grad") {
    using gs::test::check_grad;
    using gs::test::randn64;
    auto mm_t = [](const V& v) {
        return gs::autograd::matmul(gs::autograd::transpose(v[0], 0, 1), gs::autograd::transpose(v[1], 0, 1));
    };
    check_grad("matmul a^T b^T", mm_t, {randn64({4, 3}, 25), randn64({5, 4}, 26)});
    gs::autograd::GradcheckOptions only_b;
    only_b.wrt = {1};
    check_grad("matmul wrt b only", mm, {randn64({2, 3, 4}, 27), randn64({4, 5}, 28)}, only_b);
    // No input needs a gradient: nothing is recorded.
    Variable a(randn64({2, 3}, 29)), b(randn64({3, 2}, 30));
    CHECK(!gs::autograd::matmul(a, b).requires_grad());
}

TEST_CASE("matmul backward gives gradients of the operands' shapes") {
    Variable a(gs::test::randn64({2, 1, 3, 4}, 31), true), b(gs::test::randn64({5, 4, 2}, 32), true);
    Variable y = gs::autograd::matmul(a, b);
    CHECK(y.shape() == Shape{2, 5, 3, 2});
    y.backward(gs::Tensor::ones(y.shape(), gs::DType::f64));
    CHECK(a.grad().shape() == a.shape());
    CHECK(b.grad().shape() == b.shape());
}

TEST_CASE("gradcheck: linear with and without bias / extra dims / one input without grad") {
    using gs::test::check_grad;
    using gs::test::randn64;
    auto lin = [](const V& v) { return gs::autograd::linear(v[0], v[1], v[2]); };
    auto lin_nb = [](const V& v) { return gs::autograd::linear(v[0], v[1], Variable()); };
    check_grad("linear (M,in)", lin, {randn64({3, 4}, 41), randn64({5, 4}, 42), randn64({5}, 43)});
    check_grad("linear (B,T,in)", lin, {randn64({2, 3, 4}, 44), randn64({5, 4}, 45), randn64({5}, 46)});
    check_grad("linear (in)", lin, {randn64({4}, 47), randn64({5, 4}, 48), randn64({5}, 49)});
    check_grad("linear without bias", lin_nb, {randn64({3, 4}, 50), randn64({2, 4}, 51)});
    gs::autograd::GradcheckOptions only_w;
    only_w.wrt = {1};
    check_grad("linear wrt w only", lin, {randn64({3, 4}, 52), randn64({5, 4}, 53), randn64({5}, 54)}, only_w);
    // The result equals matmul + add, and the weight gradient comes out contiguous in w's layout.
    Variable x(randn64({3, 4}, 55), true), w(randn64({5, 4}, 56), true), b(randn64({5}, 57), true);
    Variable y = gs::autograd::linear(x, w, b);
    std::vector<double> want;
    for (std::int64_t i = 0; i < 3; ++i)
        for (std::int64_t o = 0; o < 5; ++o) {
            double s = b.value().at<double>({o});
            for (std::int64_t k = 0; k < 4; ++k) s += x.value().at<double>({i, k}) * w.value().at<double>({o, k});
            want.push_back(s);
        }
    CHECK(y.shape() == Shape{3, 5});
    gs::test::check_close(y.value(), want, 1e-14, 1e-14, "linear y");  // f64, 4-term sums
    y.backward(gs::Tensor::ones(y.shape(), gs::DType::f64));
    CHECK(w.grad().is_contiguous());
    CHECK_THROWS_WITH_AS(gs::autograd::linear(x, Variable(randn64({5, 3}, 58)), b), doctest::Contains("linear: expected input"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(gs::autograd::linear(x, w, Variable(randn64({4}, 59))), doctest::Contains("bias must be (5)"),
                         gs::Error);
}
