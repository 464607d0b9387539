// The CPU optimizer loops (vectorized, split across threads above a grain) against the functors
// applied one element at a time, on a length that leaves a vector remainder and a thread split.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "kernels/adam.h"
#include "kernels/sgd.h"
#include "test_util.h"

using namespace gs;
using gs::test::check_close;

namespace {
// Two threads' worth of elements above the loops' grain (1 << 15) plus an odd tail.
constexpr std::int64_t kN = 2 * (1 << 15) + 13;

template <class T>
std::vector<double> wide(const std::vector<T>& v) { return {v.begin(), v.end()}; }
}  // namespace

TEST_CASE_TEMPLATE("sgd_step_ and adam_step_ equal their functors applied per element", T, float, double) {
    Generator gen(31);
    const DType dt = dtype_of<T>();
    const Tensor w0 = normal({kN}, gen, 0.0, 1.0, dt), g0 = normal({kN}, gen, 0.0, 1.0, dt);
    const Tensor v0 = normal({kN}, gen, 0.0, 1.0, dt), m0 = normal({kN}, gen, 0.0, 1.0, dt);
    // The vector loop may contract a * b + c into an FMA where the scalar one does not (or the
    // reverse) when built for a CPU with FMA: one rounding per operation, five operations at most.
    const double eps = 8 * std::numeric_limits<T>::epsilon();

    struct Case { double mu, wd; bool nesterov; };
    for (const Case c : {Case{0, 0, false}, Case{0, 1e-2, false}, Case{0.9, 0, false}, Case{0.9, 1e-3, true}}) {
        const kernels::SgdStep step{0.1, c.mu, c.wd, c.nesterov};
        Tensor w = w0.clone(), v = v0.clone(), none;
        kernels::sgd_step_(w, g0, c.mu != 0 ? v : none, step);
        std::vector<T> wr = w0.to_vector<T>(), vr = v0.to_vector<T>();
        const std::vector<T> gr = g0.to_vector<T>();
        for (std::int64_t i = 0; i < kN; ++i) step(wr[i], gr[i], vr[i]);
        INFO("mu=", c.mu, " wd=", c.wd, " nesterov=", c.nesterov);
        check_close(w, wide(wr), eps, eps, "sgd w");
        // Without momentum the velocity is neither read nor written.
        check_close(v, c.mu != 0 ? wide(vr) : v0.to_vector<double>(), eps, eps, "sgd v");
    }

    const kernels::AdamStep step = kernels::AdamStep{1e-2, 0.9, 0.999, 1e-8, 1e-4}.for_step(3);
    std::vector<T> v_start = v0.to_vector<T>();
    for (T& x : v_start) x = std::abs(x);  // a second moment is never negative
    Tensor w = w0.clone(), m = m0.clone(), v = Tensor::from_vector(v_start);
    kernels::adam_step_(w, g0, m, v, step);
    std::vector<T> wr = w0.to_vector<T>(), mr = m0.to_vector<T>(), vr = v_start;
    const std::vector<T> gr = g0.to_vector<T>();
    for (std::int64_t i = 0; i < kN; ++i) step(wr[i], gr[i], mr[i], vr[i]);
    check_close(w, wide(wr), eps, eps, "adam w");
    check_close(m, wide(mr), eps, eps, "adam m");
    check_close(v, wide(vr), eps, eps, "adam v");
}
