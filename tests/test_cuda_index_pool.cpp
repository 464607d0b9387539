// CUDA index ops and pooling against the CPU (equal bits: both add in the same order). Skipped
// without a GPU.
#include <doctest/doctest.h>

#include "cuda_test_util.h"
#include "kernels/index.h"
#include "kernels/pool.h"
#include "test_util.h"

namespace k = gs::kernels;
using gs::DType;
using gs::Tensor;
using gs::test::check_equal;
using gs::test::gpu;

namespace {
struct Pair {
    Tensor cpu, gpu;
};
Pair both(const Tensor& t) { return {t, t.to(gpu())}; }
}  // namespace

TEST_CASE_TEMPLATE("cuda index ops match the CPU including duplicate indices and strided inputs", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(21);
    const DType dt = gs::dtype_of<T>();
    const Pair x = both(gs::normal({4, 7, 5}, g, 0.0, 1.0, dt));
    const Pair idx = both(Tensor::from_vector(std::vector<std::int64_t>{6, 0, 3, 3, 6, 1}));
    for (std::int64_t dim : {0, 1, 2}) {
        const Pair id = both(gs::randint({9}, g, 0, x.cpu.size(dim)));
        const Tensor sc = k::index_select(x.cpu, dim, id.cpu), sg = k::index_select(x.gpu, dim, id.gpu);
        check_equal(sg, sc, "index_select dim " + std::to_string(dim));
        check_equal(k::index_add(x.gpu.shape(), dim, id.gpu, sg), k::index_add(x.cpu.shape(), dim, id.cpu, sc),
                    "index_add dim " + std::to_string(dim));
    }
    check_equal(k::index_select(x.gpu.transpose(0, 2), 1, idx.gpu), k::index_select(x.cpu.transpose(0, 2), 1, idx.cpu),
                "index_select of a transpose");
    for (std::int64_t dim : {0, 1, 2}) {
        gs::Shape ishape{3, 6, 4};
        ishape[std::size_t(dim)] = 8;
        const Pair gi = both(gs::randint(ishape, g, 0, x.cpu.size(dim)));
        const Tensor gc = k::gather(x.cpu, dim, gi.cpu), gg = k::gather(x.gpu, dim, gi.gpu);
        check_equal(gg, gc, "gather dim " + std::to_string(dim));
        check_equal(k::scatter_add(x.gpu.shape(), dim, gi.gpu, gg), k::scatter_add(x.cpu.shape(), dim, gi.cpu, gc),
                    "scatter_add dim " + std::to_string(dim));
    }
    // A strided x for gather and src for scatter_add.
    const Pair gi = both(gs::randint({5, 3, 4}, g, 0, 5));
    check_equal(k::gather(x.gpu.transpose(0, 2), 0, gi.gpu), k::gather(x.cpu.transpose(0, 2), 0, gi.cpu), "gather strided");
    check_equal(k::scatter_add({5, 7, 4}, 0, gi.gpu, x.gpu.transpose(0, 2)),
                k::scatter_add({5, 7, 4}, 0, gi.cpu, x.cpu.transpose(0, 2)), "scatter_add strided");
    // A bad index on the device is reported, not read out of bounds.
    const Tensor bad = Tensor::from_vector(std::vector<std::int64_t>{1, 7}).to(gpu());
    CHECK_THROWS_WITH_AS(k::index_select(x.gpu, 1, bad), doctest::Contains("index 7 is out of range for dim 1 of size 7"),
                         gs::Error);
    CHECK_THROWS_WITH_AS(k::index_select(x.gpu, 1, idx.cpu), doctest::Contains("cuda:0"), gs::Error);
}

TEST_CASE_TEMPLATE("cuda max and avg pooling forward and backward match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    gs::Generator g(22);
    const DType dt = gs::dtype_of<T>();
    const Pair x = both(gs::normal({2, 3, 9, 7}, g, 0.0, 1.0, dt));
    for (const k::Pool2dGeometry geo : {k::Pool2dGeometry{2, 2, 2, 2, 0, 0}, k::Pool2dGeometry{3, 3, 2, 2, 1, 1},
                                        k::Pool2dGeometry{3, 2, 1, 2, 1, 0}}) {
        const std::string name = geo.str();
        const auto mc = k::max_pool2d_forward(x.cpu, geo), mg = k::max_pool2d_forward(x.gpu, geo);
        check_equal(mg.y, mc.y, "max_pool2d y " + name);
        check_equal(mg.indices, mc.indices, "max_pool2d indices " + name);
        const Pair dy = both(gs::normal(mc.y.shape(), g, 0.0, 1.0, dt));
        check_equal(k::max_pool2d_backward(dy.gpu, mg.indices, x.cpu.shape()),
                    k::max_pool2d_backward(dy.cpu, mc.indices, x.cpu.shape()), "max_pool2d dx " + name);
        // Autograd's path: a gather per input pixel over the covering windows, same order.
        check_equal(k::max_pool2d_backward(dy.gpu, mg.indices, x.cpu.shape(), geo),
                    k::max_pool2d_backward(dy.cpu, mc.indices, x.cpu.shape()), "max_pool2d dx (gather) " + name);
        for (bool include_pad : {false, true}) {
            check_equal(k::avg_pool2d_forward(x.gpu, geo, include_pad), k::avg_pool2d_forward(x.cpu, geo, include_pad),
                        "avg_pool2d y " + name);
            check_equal(k::avg_pool2d_backward(dy.gpu, x.cpu.shape(), geo, include_pad),
                        k::avg_pool2d_backward(dy.cpu, x.cpu.shape(), geo, include_pad), "avg_pool2d dx " + name);
        }
    }
    // A strided input is made contiguous first.
    const k::Pool2dGeometry geo{2, 2, 2, 2, 0, 0};
    check_equal(k::max_pool2d_forward(x.gpu.transpose(2, 3), geo).y, k::max_pool2d_forward(x.cpu.transpose(2, 3), geo).y,
                "max_pool2d of a transpose");
}
