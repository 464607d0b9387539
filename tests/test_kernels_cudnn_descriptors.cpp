// The descriptor arithmetic of the cuDNN kernels (kernels/cudnn_descriptors.h), on the CPU: packed
// NCHW dims and strides, batch norm's (N, C, S, 1) view, per-channel and flat views, chunking, the
// convolution parameters, cuDNN's output-size formula against Conv2dGeometry, and the errors for
// sizes beyond cuDNN's 32-bit limits.
#include <doctest/doctest.h>

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/cudnn_descriptors.h"

namespace {

using gs::Shape;
using gs::kernels::Conv2dGeometry;
namespace cd = gs::kernels::cudnn_desc;
using i64 = std::int64_t;

}  // namespace

TEST_CASE("cudnn descriptors of packed tensors") {
    CHECK(cd::packed_nchw({2, 3, 5, 7}, "t") == cd::Dims4{{2, 3, 5, 7}, {105, 35, 7, 1}});
    CHECK(cd::packed_nchw({1, 1, 1, 1}, "t") == cd::Dims4{{1, 1, 1, 1}, {1, 1, 1, 1}});
    // A zero dim keeps the other strides meaningful (cuDNN never sees it: empty tensors return early).
    CHECK(cd::packed_nchw({0, 3, 2, 2}, "t").strides == std::array<int, 4>{12, 4, 2, 1});
    CHECK(cd::channel_view(9, "t") == cd::Dims4{{1, 9, 1, 1}, {9, 1, 1, 1}});
    CHECK(cd::flat_view(1000, "t") == cd::Dims4{{1, 1, 1, 1000}, {1000, 1000, 1000, 1}});
}

TEST_CASE("cudnn batch norm view folds the trailing dims") {
    CHECK(cd::batch_norm_view({8, 5}, "bn") == cd::Dims4{{8, 5, 1, 1}, {5, 1, 1, 1}});
    CHECK(cd::batch_norm_view({7, 3, 11}, "bn") == cd::Dims4{{7, 3, 11, 1}, {33, 11, 1, 1}});
    CHECK(cd::batch_norm_view({4, 6, 5, 7}, "bn") == cd::Dims4{{4, 6, 35, 1}, {210, 35, 1, 1}});
    CHECK(cd::batch_norm_view({2, 3, 3, 4, 5}, "bn") == cd::Dims4{{2, 3, 60, 1}, {180, 60, 1, 1}});
    CHECK_THROWS_WITH_AS(cd::batch_norm_view({8}, "bn"), doctest::Contains("bn: expected (N, C, ...)"), gs::Error);
}

TEST_CASE("cudnn descriptors reject sizes beyond 32 bits") {
    const i64 big = i64(std::numeric_limits<int>::max()) + 1;
    CHECK_THROWS_WITH_AS(cd::packed_nchw({1, 1, 1, big}, "conv2d_forward"),
                         doctest::Contains("conv2d_forward: size 2147483648"), gs::Error);
    // Every dim fits but the element count (and so the batch stride's product) does not.
    CHECK_THROWS_WITH_AS(cd::packed_nchw({2, 1024, 1024, 1024}, "conv2d_forward"), doctest::Contains("split the batch"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(cd::flat_view(big, "relu"), doctest::Contains("relu"), gs::Error);
    CHECK_THROWS_WITH_AS(cd::packed_nchw({2, 3, 4}, "conv2d_forward"), doctest::Contains("4-d"), gs::Error);
    Conv2dGeometry g;
    g.pad_h = big;
    CHECK_THROWS_WITH_AS(cd::conv_params(g, "conv2d_forward"), doctest::Contains("padding 2147483648"), gs::Error);
}

TEST_CASE("cudnn chunks cover a range in order") {
    CHECK(cd::chunks(0, 4).empty());
    CHECK(cd::chunks(3, 4) == std::vector<std::pair<i64, i64>>{{0, 3}});
    CHECK(cd::chunks(8, 4) == std::vector<std::pair<i64, i64>>{{0, 4}, {4, 8}});
    CHECK(cd::chunks(9, 4) == std::vector<std::pair<i64, i64>>{{0, 4}, {4, 8}, {8, 9}});
    const i64 n = (i64(1) << 31) + 5;
    const auto c = cd::chunks(n, i64(1) << 30);
    REQUIRE(c.size() == 3);
    CHECK(c.back() == std::pair<i64, i64>{i64(1) << 31, n});
    CHECK_THROWS_AS(cd::chunks(5, 0), gs::Error);
}

TEST_CASE("cudnn convolution parameters follow the geometry") {
    Conv2dGeometry g;
    g.stride_h = 2, g.stride_w = 3, g.pad_h = 1, g.pad_w = 0, g.dil_h = 2, g.dil_w = 1, g.groups = 4;
    CHECK(cd::conv_params(g, "t") == cd::ConvParams{1, 0, 2, 3, 2, 1, 4});
}

TEST_CASE("cudnn output size formula agrees with Conv2dGeometry") {
    // Every small geometry with a positive output: cuDNN's documented formula (what cuDNN will
    // compute from the descriptors) and conv2d.h's out_h/out_w must give the same (N, K, OH, OW);
    // conv2d_cudnn.cpp also checks cuDNN's own answer at run time.
    int checked = 0;
    for (i64 in = 1; in <= 9; ++in)
        for (i64 f = 1; f <= 4; ++f)
            for (i64 s = 1; s <= 3; ++s)
                for (i64 p = 0; p <= 3; ++p)
                    for (i64 d = 1; d <= 3; ++d) {
                        Conv2dGeometry g;
                        g.stride_h = s, g.stride_w = 4 - s, g.pad_h = p, g.pad_w = 3 - p, g.dil_h = d, g.dil_w = 4 - d;
                        const i64 W = 10 - in, S = 5 - f;
                        const i64 oh = g.out_h(in, f), ow = g.out_w(W, S);
                        if (oh <= 0 || ow <= 0) continue;
                        const auto dims = cd::conv_output_dims(cd::packed_nchw({3, 2, in, W}, "t"),
                                                               cd::packed_nchw({5, 2, f, S}, "t"), cd::conv_params(g, "t"));
                        CAPTURE(g.str());
                        CHECK(dims == std::array<int, 4>{3, 5, int(oh), int(ow)});
                        ++checked;
                    }
    CHECK(checked > 500);  // the sweep really covers many geometries
}
