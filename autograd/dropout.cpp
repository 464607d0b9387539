// Dropout: backward needs only the mask (u8) and p.
#include "autograd/dropout.h"

#include "autograd/function.h"
#include "kernels/dropout.h"

namespace gs::autograd {

Variable dropout(const Variable& x, double p, Generator& gen, bool training) {
    GS_CHECK(p >= 0 && p < 1, "dropout: drop probability p must be in [0, 1), got ", p);
    if (!training || p == 0) return x;
    kernels::DropoutResult r = kernels::dropout_forward(x.value(), p, gen);
    const Tensor mask = r.mask;
    return make_result(std::move(r.y), {x}, "dropout",
                       [mask, p](const Tensor& dy) { return std::vector{kernels::dropout_backward(dy, mask, p)}; });
}

}  // namespace gs::autograd
