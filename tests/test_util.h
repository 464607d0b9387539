#pragma once
// Helpers shared by the test files: gradient checks with doctest reporting, naive references.
#include <doctest/doctest.h>

#include <cmath>
#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace gs::test {

// Runs autograd::gradcheck and fails the current test case with the worst element when it fails.
inline void check_grad(const std::string& name, const autograd::GradcheckFn& f, const std::vector<Tensor>& inputs,
                       const autograd::GradcheckOptions& options = {}) {
    const autograd::GradcheckResult r = autograd::gradcheck(name, f, inputs, options);
    INFO(r.message);
    CHECK(r.ok);
}

// f64 normal values for a gradcheck input.
inline Tensor randn64(const Shape& shape, std::uint64_t seed) {
    Generator g(seed, 7);
    return normal(shape, g, 0.0, 1.0, DType::f64);
}

// Max |a - b| over all elements (shapes must match), computed in f64.
inline double max_abs_diff(const Tensor& a, const Tensor& b) {
    REQUIRE(a.shape() == b.shape());
    const auto x = a.to_vector<double>(), y = b.to_vector<double>();
    double m = 0;
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double d = std::abs(x[i] - y[i]);
        if (std::isnan(d)) return INFINITY;
        m = std::max(m, d);
    }
    return m;
}

}  // namespace gs::test
