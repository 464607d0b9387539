// The GEMM plan shared by the CPU and cuBLAS matmul loops (kernels/matmul_plan.h), on the CPU:
// which layouts a GEMM reads in place, when a batch folds into one GEMM, the grouping of batch
// entries into output matrices, and the equal spacing that lets one strided-batched call run a
// set of products.
#include <doctest/doctest.h>

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "kernels/matmul_plan.h"

namespace {

using gs::Shape;
using gs::Tensor;
namespace mp = gs::kernels::matmul_plan;
using i64 = std::int64_t;

}  // namespace

TEST_CASE("matmul plan reads row-major and transposed matrices in place") {
    auto l = mp::gemm_layout(3, 4, 4, 1);
    REQUIRE(l);
    CHECK_FALSE(l->trans);
    CHECK(l->ld == 4);
    l = mp::gemm_layout(3, 4, 1, 3);  // a (4, 3) matrix viewed transposed
    REQUIRE(l);
    CHECK(l->trans);
    CHECK(l->ld == 3);
    l = mp::gemm_layout(3, 4, 10, 1);  // a column slice of a wider matrix
    REQUIRE(l);
    CHECK(l->ld == 10);
    CHECK_FALSE(mp::gemm_layout(3, 4, 8, 2));  // neither stride is 1: needs a copy
    CHECK_FALSE(mp::gemm_layout(3, 4, 2, 1));  // rows overlap: not a valid leading dimension
    const Tensor t = Tensor::zeros({5, 8}).slice(1, 0, 8, 2);
    CHECK(mp::gemm_ready(t).is_contiguous());
    CHECK_FALSE(mp::gemm_ready(t).shares_storage(t));
    const Tensor u = Tensor::zeros({5, 8}).t();
    CHECK(mp::gemm_ready(u).shares_storage(u));
    CHECK(mp::layout_of(u).trans);
}

TEST_CASE("matmul plan folds a shared right operand and a stacked reduction") {
    // (4, 3, K) x (K, N) with no reduction: rows fold into one (12 x K) GEMM.
    const Tensor a = Tensor::zeros({4, 3, 5}), b = Tensor::zeros({5, 6}).expand({4, 5, 6});
    CHECK(mp::choose_fold(a, b, 4) == mp::Fold::rows_folded);
    // The weight gradient: x^T (4, 5, 3) read transposed, summed into one matrix.
    const Tensor x = Tensor::zeros({4, 3, 5}).transpose(-1, -2), dy = Tensor::zeros({4, 3, 6});
    CHECK(mp::choose_fold(x, dy, 1) == mp::Fold::inner_folded);
    // Independent batches of both operands: no fold.
    CHECK(mp::choose_fold(a, Tensor::zeros({4, 5, 6}), 4) == mp::Fold::none);
}

TEST_CASE("matmul plan groups batch entries by output matrix") {
    // Full batch (2, 3); out batch (1, 3): output j sums entries (0, j) and (1, j) in that order.
    const i64 M = 2, K = 3, N = 4;
    const Tensor a = Tensor::zeros({2, 3, M, K}), b = Tensor::zeros({2, 3, K, N});
    const Tensor out = Tensor::zeros({1, 3, M, N});
    const auto g = mp::batch_groups(a, b, out);
    REQUIRE(g.size() == 3);
    for (std::size_t j = 0; j < 3; ++j) {
        REQUIRE(g[j].size() == 2);
        CHECK(g[j][0] == std::pair<i64, i64>{i64(j) * M * K, i64(j) * K * N});
        CHECK(g[j][1] == std::pair<i64, i64>{(3 + i64(j)) * M * K, (3 + i64(j)) * K * N});
    }
    // A missing output batch: everything in one group, in batch order.
    const auto all = mp::batch_groups(a, b, Tensor::zeros({M, N}));
    REQUIRE(all.size() == 1);
    CHECK(all[0].size() == 6);
    CHECK(all[0][5].first == 5 * M * K);
    // Member j of every group is equally spaced here, so one strided-batched GEMM runs it.
    std::vector<i64> first;
    for (const auto& grp : g) first.push_back(grp[1].first);
    CHECK(mp::uniform_stride(first) == std::optional<i64>(M * K));
}

TEST_CASE("matmul plan uniform stride") {
    CHECK(mp::uniform_stride({}) == std::optional<i64>(0));
    CHECK(mp::uniform_stride({7}) == std::optional<i64>(0));
    CHECK(mp::uniform_stride({3, 3, 3}) == std::optional<i64>(0));
    CHECK(mp::uniform_stride({0, 5, 10, 15}) == std::optional<i64>(5));
    CHECK_FALSE(mp::uniform_stride({0, 5, 11}));
}
