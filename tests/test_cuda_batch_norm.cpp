// cuDNN batch norm (kernels::batch_norm_* on CUDA tensors) against the CPU path on fresh random
// inputs: training forward (y, mean, invstd, unbiased var), the running-statistics update,
// eval forward, and every output of both backwards (dx, dgamma, dbeta, alone and together), for
// 2-d, 3-d, 4-d and 5-d inputs and the affine, shift-only and no-affine layers, f32 and f64.
// Skips (GS_REQUIRE_GPU) without a CUDA device.
#include <doctest/doctest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "cuda_compare.h"
#include "kernels/batch_norm.h"
#include "tensor/random.h"

namespace {

using gs::Shape;
using gs::Tensor;
using i64 = std::int64_t;
using gs::test::check_close;
using gs::test::gpu;
using gs::test::max_abs;
using gs::test::randn;

// The CPU sums in double and rounds once; cuDNN sums in the data type (f32 for f32) in its own
// order over up to a few thousand values per channel. Outputs are O(1) (normalized values and
// their gradients), so 1e-4 relative plus 1e-4 of the output scale in f32 and 1e-10 in f64.
template <class T>
double tol() {
    return sizeof(T) == 4 ? 1e-4 : 1e-10;
}
template <class T>
void close(const Tensor& got, const Tensor& want, const std::string& what) {
    check_close(got, want, tol<T>(), tol<T>() * std::max(1.0, max_abs(want)), what);
}

enum class Affine { full, shift_only, none };

struct Case {
    Shape x;
    Affine affine;
    const char* name;
};

std::vector<Case> cases() {
    return {
        {{8, 5}, Affine::full, "(N, C) affine"},
        {{7, 3, 11}, Affine::shift_only, "(N, C, L) shift-only"},
        {{4, 6, 5, 7}, Affine::full, "(N, C, H, W) affine"},
        {{3, 4, 5, 5}, Affine::none, "(N, C, H, W) no affine"},
        {{2, 3, 3, 4, 5}, Affine::full, "(N, C, D, H, W) affine"},
        {{2, 1, 1, 1}, Affine::full, "two values per channel"},
        {{16, 32, 16, 16}, Affine::full, "a ResNet-sized layer"},
    };
}

}  // namespace

TEST_CASE_TEMPLATE("cuda batch norm training forward and backward match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    namespace k = gs::kernels;
    std::uint64_t seed = 300;
    for (const Case& c : cases()) {
        CAPTURE(c.name);
        const i64 C = c.x[1];
        const double eps = 1e-5;
        // A mean and scale away from (0, 1), so normalization has work to do.
        const Tensor x = randn<T>(c.x, ++seed, 0.7, 2.0);
        const Tensor gamma = c.affine == Affine::full ? randn<T>({C}, ++seed) : Tensor();
        const Tensor beta = c.affine != Affine::none ? randn<T>({C}, ++seed) : Tensor();
        const std::string name = c.name;

        const k::BatchNormTrainResult want = k::batch_norm_forward_train(x, gamma, beta, eps);
        const k::BatchNormTrainResult got = k::batch_norm_forward_train(gpu(x), gpu(gamma), gpu(beta), eps);
        close<T>(got.y, want.y, name + ": y");
        close<T>(got.mean, want.mean, name + ": mean");
        close<T>(got.invstd, want.invstd, name + ": invstd");
        close<T>(got.var, want.var, name + ": unbiased var");

        // Backward with every combination of requested gradients, from the CPU's saved statistics.
        const Tensor dy = randn<T>(c.x, ++seed);
        for (int mask = 1; mask < 8; ++mask) {
            const bool ndx = mask & 1, ndg = mask & 2, ndb = mask & 4;
            const bool stats = ndx || ndg;
            CAPTURE(mask);
            const k::BatchNormGrads w = k::batch_norm_backward_train(dy, stats ? x : Tensor(), stats ? want.mean : Tensor(),
                                                                     stats ? want.invstd : Tensor(), gamma, ndx, ndg, ndb);
            const k::BatchNormGrads g = k::batch_norm_backward_train(
                gpu(dy), stats ? gpu(x) : Tensor(), stats ? gpu(want.mean) : Tensor(),
                stats ? gpu(want.invstd) : Tensor(), gpu(gamma), ndx, ndg, ndb);
            if (ndx) close<T>(g.dx, w.dx, name + ": dx");
            if (ndg) close<T>(g.dgamma, w.dgamma, name + ": dgamma");
            if (ndb) close<T>(g.dbeta, w.dbeta, name + ": dbeta");
            CHECK(g.dx.defined() == ndx);
            CHECK(g.dgamma.defined() == ndg);
            CHECK(g.dbeta.defined() == ndb);
        }
    }
}

TEST_CASE_TEMPLATE("cuda batch norm updates running statistics like the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    namespace k = gs::kernels;
    const Shape xs{6, 4, 3, 5};
    const Tensor x = randn<T>(xs, 350, -0.3, 1.5);
    for (double momentum : {0.1, 0.0, 1.0, 0.37}) {
        CAPTURE(momentum);
        // Start from non-trivial running values so both terms of the blend matter.
        const Tensor rm0 = randn<T>({4}, 351), rv0 = randn<T>({4}, 352, 2.0, 0.2);
        const k::BatchNormRunning cpu_run{rm0.clone(), rv0.clone(), momentum};
        const k::BatchNormRunning gpu_run{gpu(rm0), gpu(rv0), momentum};
        const auto want = k::batch_norm_forward_train(x, Tensor(), Tensor(), 1e-5, &cpu_run);
        const auto got = k::batch_norm_forward_train(gpu(x), Tensor(), Tensor(), 1e-5, &gpu_run);
        CHECK_FALSE(want.var.defined());  // consumed by the update
        CHECK_FALSE(got.var.defined());
        close<T>(got.y, want.y, "y");
        close<T>(gpu_run.mean, cpu_run.mean, "running mean");
        // Unbiased (M-1) on both sides: a biased cuDNN update would be off by a factor M/(M-1) =
        // 90/89 in the batch term, far outside the tolerance.
        close<T>(gpu_run.var, cpu_run.var, "running var");
    }
}

TEST_CASE_TEMPLATE("cuda batch norm eval forward and backward match the CPU", T, float, double) {
    GS_REQUIRE_GPU();
    namespace k = gs::kernels;
    std::uint64_t seed = 400;
    for (const Case& c : cases()) {
        CAPTURE(c.name);
        const i64 C = c.x[1];
        const double eps = 1e-3;
        const Tensor x = randn<T>(c.x, ++seed, 0.2, 1.3);
        const Tensor rm = randn<T>({C}, ++seed), rv = randn<T>({C}, ++seed, 1.5, 0.3);
        const Tensor gamma = c.affine == Affine::full ? randn<T>({C}, ++seed) : Tensor();
        const Tensor beta = c.affine != Affine::none ? randn<T>({C}, ++seed) : Tensor();
        const std::string name = c.name;
        close<T>(k::batch_norm_forward_eval(gpu(x), gpu(rm), gpu(rv), gpu(gamma), gpu(beta), eps),
                 k::batch_norm_forward_eval(x, rm, rv, gamma, beta, eps), name + ": eval y");
        const Tensor dy = randn<T>(c.x, ++seed);
        for (int mask = 1; mask < 8; ++mask) {
            const bool ndx = mask & 1, ndg = mask & 2, ndb = mask & 4;
            CAPTURE(mask);
            const k::BatchNormGrads w =
                k::batch_norm_backward_eval(dy, ndg ? x : Tensor(), rm, rv, gamma, eps, ndx, ndg, ndb);
            const k::BatchNormGrads g = k::batch_norm_backward_eval(gpu(dy), ndg ? gpu(x) : Tensor(), gpu(rm), gpu(rv),
                                                                    gpu(gamma), eps, ndx, ndg, ndb);
            if (ndx) close<T>(g.dx, w.dx, name + ": eval dx");
            if (ndg) close<T>(g.dgamma, w.dgamma, name + ": eval dgamma");
            if (ndb) close<T>(g.dbeta, w.dbeta, name + ": eval dbeta");
        }
    }
}
