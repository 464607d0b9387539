// Central-difference gradient checks.
#include "autograd/gradcheck.h"

#include <cmath>
#include <sstream>

#include "autograd/engine.h"
#include "tensor/random.h"

namespace gs::autograd {
namespace {

double weighted_sum(const Tensor& y, const Tensor& w) {
    const Tensor yc = y.to(DType::f64).contiguous();
    const double* a = yc.data<double>();
    const double* b = w.data<double>();
    double s = 0;
    for (std::int64_t i = 0; i < yc.numel(); ++i) s += a[i] * b[i];
    return s;
}

std::string index_str(const Shape& shape, std::int64_t flat) {
    Shape idx(shape.size());
    for (std::size_t d = shape.size(); d-- > 0;) {
        idx[d] = flat % shape[d];
        flat /= shape[d];
    }
    return shape_str(idx);
}

}  // namespace

GradcheckResult gradcheck(const std::string& name, const GradcheckFn& f, const std::vector<Tensor>& inputs,
                          const GradcheckOptions& opt) {
    std::vector<std::size_t> wrt = opt.wrt;
    if (wrt.empty())
        for (std::size_t i = 0; i < inputs.size(); ++i)
            if (is_floating(inputs[i].dtype())) wrt.push_back(i);
    for (std::size_t i : wrt) {
        GS_CHECK(i < inputs.size(), "gradcheck(", name, "): input index ", i, " out of range");
        GS_CHECK(inputs[i].dtype() == DType::f64 && inputs[i].device().is_cpu(), "gradcheck(", name, "): input ", i,
                 " must be an f64 CPU tensor, got ", inputs[i].describe());
    }

    // Private contiguous copies, so perturbing them never touches the caller's tensors.
    std::vector<Tensor> values;
    for (const Tensor& t : inputs) values.push_back(t.clone());
    std::vector<bool> checked(inputs.size(), false);
    for (std::size_t i : wrt) checked[i] = true;

    // Analytic gradients.
    std::vector<Variable> vars;
    for (std::size_t i = 0; i < values.size(); ++i) vars.emplace_back(values[i], checked[i]);
    const Variable y = f(vars);
    GS_CHECK(y.defined() && y.dtype() == DType::f64, "gradcheck(", name, "): the function must return an f64 result");
    Generator gen(opt.seed, 0);
    const Tensor w = normal(y.shape(), gen, 0.0, 1.0, DType::f64);
    std::vector<Variable> wrt_vars;
    for (std::size_t i : wrt) wrt_vars.push_back(vars[i]);
    GS_CHECK(y.requires_grad(), "gradcheck(", name, "): the result does not depend on any checked input");
    const std::vector<Tensor> analytic = grad({y}, wrt_vars, {w.to(y.dtype())});

    auto evaluate = [&]() {
        NoGradGuard no_grad;
        std::vector<Variable> in;
        for (const Tensor& t : values) in.emplace_back(t, false);
        return weighted_sum(f(in).value(), w);
    };

    GradcheckResult result;
    result.worst_error = -INFINITY;
    for (std::size_t k = 0; k < wrt.size(); ++k) {
        const std::size_t i = wrt[k];
        double* x = values[i].data<double>();
        const Tensor a = analytic[k].to(DType::f64).contiguous();
        const double* ap = a.data<double>();
        for (std::int64_t e = 0; e < values[i].numel(); ++e) {
            const double x0 = x[e];
            x[e] = x0 + opt.eps;
            const double up = evaluate();
            x[e] = x0 - opt.eps;
            const double down = evaluate();
            x[e] = x0;
            const double numeric = (up - down) / (2 * opt.eps);
            double err = std::abs(ap[e] - numeric) - (opt.atol + opt.rtol * std::abs(numeric));
            if (std::isnan(err)) err = INFINITY;  // a NaN gradient is the worst possible element
            if (err > result.worst_error) {
                result.worst_error = err;
                std::ostringstream os;
                os << "gradcheck(" << name << "): input " << i << " " << shape_str(values[i].shape()) << " at index "
                   << index_str(values[i].shape(), e) << ": analytic " << ap[e] << ", numeric " << numeric
                   << " (tolerance " << opt.atol << " + " << opt.rtol << "*|numeric|)";
                result.message = os.str();
            }
        }
    }
    result.ok = result.worst_error <= 0;
    if (result.ok) result.message = "ok; worst element: " + result.message;
    return result;
}

}  // namespace gs::autograd
