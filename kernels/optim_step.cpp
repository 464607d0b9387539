// Entry points of the optimizer-step kernels (kernels/sgd.h, kernels/adam.h): validation, then
// dispatch to the CPU or CUDA loops.
#include "kernels/adam.h"
#include "kernels/dispatch.h"
#include "kernels/sgd.h"

namespace gs::kernels {

namespace {

void check_operand(const char* op, const Tensor& w, const Tensor& t, const char* what, bool contiguous) {
    GS_CHECK(t.defined(), op, ": ", what, " is undefined");
    GS_CHECK(t.shape() == w.shape() && t.dtype() == w.dtype(), op, ": ", what, " ", t.describe(),
             " does not match the parameter ", w.describe());
    if (contiguous) check_contiguous(op, t, what);
}

}  // namespace

void sgd_step_(Tensor& w, const Tensor& g, Tensor& v, const SgdStep& step) {
    GS_CHECK(w.defined() && (w.dtype() == DType::f32 || w.dtype() == DType::f64), "sgd_step: parameter must be f32 or f64");
    check_contiguous("sgd_step", w, "parameter");
    check_operand("sgd_step", w, g, "gradient", false);
    bool cuda = false;
    if (step.momentum != 0) {
        check_operand("sgd_step", w, v, "momentum buffer", true);
        cuda = use_cuda("sgd_step", {&w, &g, &v});
    } else {
        cuda = use_cuda("sgd_step", {&w, &g});
    }
    if (cuda) GS_CUDA_CALL(cuda::sgd_step(w, g, v, step));
    else cpu::sgd_step(w, g, v, step);
}

void adam_step_(Tensor& w, const Tensor& g, Tensor& m, Tensor& v, const AdamStep& step) {
    GS_CHECK(w.defined() && (w.dtype() == DType::f32 || w.dtype() == DType::f64), "adam_step: parameter must be f32 or f64");
    check_contiguous("adam_step", w, "parameter");
    check_operand("adam_step", w, g, "gradient", false);
    check_operand("adam_step", w, m, "first moment", true);
    check_operand("adam_step", w, v, "second moment", true);
    if (use_cuda("adam_step", {&w, &g, &m, &v})) GS_CUDA_CALL(cuda::adam_step(w, g, m, v, step));
    else cpu::adam_step(w, g, m, v, step);
}

}  // namespace gs::kernels
