// The per-example kernels composed from device-generic tensor ops (matmul, grouped conv2d weight
// gradients, elementwise ops, sums), so they run wherever those ops do: on a CUDA device through
// cuBLAS and cuDNN, and on the CPU, where the tests check them against the CPU loops.
//
// Materialized weight gradients come a block of output units at a time, for every example at once:
//   Linear: rows of G_i = D_i^T A_i for outputs [o0, o0 + n) are one batched matmul;
//   Conv2d: the examples of one group become the groups of a single-image convolution
//           (x as (1, B*Cg, H, W), dy as (1, B*n, OH, OW), groups = B), whose weight gradient
//           (B*n, Cg, R, S) is exactly every example's gradient for those output channels.
// A block's columns are contiguous in the flattened weight (output unit major), so norms, Gram and
// moments accumulate block by block and each gradient entry is formed once. Blocks hold at most
// budget / B columns (at least one output unit).
//
// The patch formulas need no gradient: for Linear without extra dims they are ||a||^2 ||d||^2 and
// (A A^T) o (D D^T); with extra dims, blocks of P x P products. Conv2d has no unfold kernel here,
// so it always materializes (`automatic` resolves to materialize; `patches` is refused).
#include <algorithm>
#include <cmath>
#include <functional>
#include <memory>
#include <utility>

#include "kernels/elementwise.h"
#include "kernels/matmul.h"
#include "kernels/per_example.h"
#include "kernels/reduce.h"
#include "tensor/error.h"

namespace gs::kernels::composite {
namespace {

using i64 = std::int64_t;

Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::mul, a, b); }
Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::add, a, b); }
Tensor square(const Tensor& a) { return mul(a, a); }

// One layer's per-example gradients as blocks of output units. `outputs` units split into `groups`
// equal groups; a block never crosses a group. weight_block(o0, n) is (B, n * per_output): every
// example's gradient entries for outputs [o0, o0 + n), which are columns [o0 * per_output, ...) of
// the flattened weight. bias_rows() is (B, outputs).
struct Source {
    i64 B = 0, outputs = 0, groups = 1, per_output = 0;
    std::function<Tensor(i64, i64)> weight_block;
    std::function<Tensor()> bias_rows;

    // Calls f(block, first column) over the whole weight in blocks of at most budget / B columns.
    template <class F>
    void for_each_block(i64 budget, F f) const {
        const i64 per_group = outputs / groups;
        const i64 n = std::clamp<i64>(budget / std::max<i64>(B * per_output, 1), 1, std::max<i64>(per_group, 1));
        for (i64 gi = 0; gi < groups; ++gi)
            for (i64 k = 0; k < per_group; k += n) {
                const i64 o0 = gi * per_group + k, len = std::min(n, per_group - k);
                f(weight_block(o0, len), o0 * per_output);
            }
    }
};

// a (B, P, F), d (B, P, O).
Source linear_source(const Tensor& a, const Tensor& d) {
    Source s;
    s.B = a.size(0);
    s.outputs = d.size(2);
    s.per_output = a.size(2);
    s.weight_block = [a, d](i64 o0, i64 n) {
        const i64 B = a.size(0);
        return matmul(d.narrow(2, o0, n).transpose(1, 2), a).reshape({B, n * a.size(2)});
    };
    s.bias_rows = [d] { return sum(d, {1}); };
    return s;
}

// x (B, C, H, W), dy (B, K, OH, OW), w_shape (K, C/groups, R, S).
Source conv_source(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g) {
    Source s;
    s.B = x.size(0);
    s.outputs = w_shape[0];
    s.groups = g.groups;
    s.per_output = w_shape[1] * w_shape[2] * w_shape[3];
    // The blocks come group by group: one copy of each group's input channels serves all of its
    // blocks (with one group it is x itself, no copy).
    auto group_x = std::make_shared<std::pair<i64, Tensor>>(-1, Tensor());
    s.weight_block = [x, dy, w_shape, g, group_x](i64 o0, i64 n) {
        const i64 B = x.size(0), Cg = w_shape[1], Kg = w_shape[0] / g.groups, gi = o0 / Kg;
        if (group_x->first != gi)
            *group_x = {gi, x.narrow(1, gi * Cg, Cg).contiguous().view({1, B * Cg, x.size(2), x.size(3)})};
        const Tensor& xg = group_x->second;
        const Tensor dyb = dy.narrow(1, o0, n).contiguous().view({1, B * n, dy.size(2), dy.size(3)});
        Conv2dGeometry per_example = g;
        per_example.groups = B;
        return conv2d_backward_weight(dyb, xg, {B * n, Cg, w_shape[2], w_shape[3]}, per_example)
            .view({B, n * Cg * w_shape[2] * w_shape[3]});
    };
    s.bias_rows = [dy] { return sum(dy, {2, 3}); };
    return s;
}

// (G + G^T) / 2: exactly symmetric (a + b == b + a in floating point), as the CPU's mirrored Gram,
// whatever order the GEMMs summed (i, j) and (j, i) in; the diagonal is unchanged.
void symmetrize(Tensor& g) { g.copy_(affine(add(g, g.t()), 0.5, 0.0)); }

// ---- statistics over materialized blocks ------------------------------------------------------------

void materialized_sq_norms(const Source& s, bool weight, bool bias, i64 budget, Tensor& out) {
    out.zero_();
    if (weight) s.for_each_block(budget, [&](const Tensor& blk, i64) { out.copy_(add(out, sum(square(blk), {1}))); });
    if (bias) out.copy_(add(out, sum(square(s.bias_rows()), {1})));
}

void materialized_gram(const Source& s, bool weight, bool bias, i64 budget, Tensor& out) {
    out.zero_();
    if (weight) s.for_each_block(budget, [&](const Tensor& blk, i64) { out.copy_(add(out, matmul(blk, blk.t()))); });
    if (bias) {
        const Tensor r = s.bias_rows();
        out.copy_(add(out, matmul(r, r.t())));
    }
    symmetrize(out);
}

// rows: (B, O) per-example bias gradients.
void bias_moments(const Tensor& rows, PerExampleMoments& out) {
    out.sum_bias.copy_(sum(rows, {0}));
    out.sum_sq_bias.copy_(sum(square(rows), {0}));
}

void materialized_moments(const Source& s, bool weight, bool bias, i64 budget, PerExampleMoments& out) {
    if (weight) {
        Tensor sw = out.sum_weight.view({-1}), qw = out.sum_sq_weight.view({-1});
        s.for_each_block(budget, [&](const Tensor& blk, i64 c0) {
            sw.narrow(0, c0, blk.size(1)).copy_(sum(blk, {0}));
            qw.narrow(0, c0, blk.size(1)).copy_(sum(square(blk), {0}));
        });
    }
    if (bias) bias_moments(s.bias_rows(), out);
}

// Empty batches: sums are zero and there is nothing else to write.
bool empty_batch(i64 B, std::initializer_list<Tensor*> outs) {
    if (B != 0) return false;
    for (Tensor* t : outs)
        if (t->defined()) t->zero_();
    return true;
}

PatchShape linear_shape(const Tensor& a, const Tensor& d) { return {a.size(0), a.size(1), a.size(2), d.size(2), 1}; }

void refuse_conv_patches(const char* op, const PerExampleConfig& cfg, const Tensor& x) {
    GS_CHECK(cfg.method != PerExampleMethod::patches, op, ": the patches method needs the CPU kernels (there is no ",
             "unfold kernel for ", x.device().str(), "); use materialize or automatic");
}

// (w * u + b) o dd summed over each example pair's P x P block: the Linear patch formula with
// extra dims. uu, dd: (nI * P, nJ * P) -> (nI, nJ).
Tensor patch_block(const Tensor& uu, const Tensor& dd, i64 nI, i64 nJ, i64 P, bool weight, bool bias) {
    const Tensor t = mul(affine(uu, weight ? 1.0 : 0.0, bias ? 1.0 : 0.0), dd);
    return sum(t.view({nI, P, nJ, P}), {1, 3});
}

}  // namespace

// ---- Linear -----------------------------------------------------------------------------------------

void linear_grad_weight(const Tensor& a, const Tensor& d, Tensor& rows) {
    const Source s = linear_source(a, d);
    if (s.B == 0) return;
    s.for_each_block(kPerExampleDefaultBudget,
                     [&](const Tensor& blk, i64 c0) { rows.narrow(1, c0, blk.size(1)).copy_(blk); });
}

void linear_grad_bias(const Tensor& d, Tensor& rows) {
    if (d.size(0) != 0) rows.copy_(sum(d, {1}));
}

void linear_sq_norms(const Tensor& a, const Tensor& d, bool weight, bool bias, const PerExampleConfig& cfg,
                     Tensor& out) {
    const i64 B = a.size(0), P = a.size(1);
    if (B == 0) return;
    if (choose_norms_method(linear_shape(a, d), cfg) == PerExampleMethod::materialize)
        return materialized_sq_norms(linear_source(a, d), weight, bias, cfg.budget, out);
    if (P == 1) {
        const Tensor uu = sum(square(a), {1, 2}), dd = sum(square(d), {1, 2});
        out.copy_(mul(affine(uu, weight ? 1.0 : 0.0, bias ? 1.0 : 0.0), dd));
        return;
    }
    // Examples per block: their P x P products of a and of d within the budget.
    const i64 n = std::clamp<i64>(cfg.budget / std::max<i64>(2 * P * P, 1), 1, B);
    for (i64 i0 = 0; i0 < B; i0 += n) {
        const i64 m = std::min(n, B - i0);
        const Tensor ai = a.narrow(0, i0, m), di = d.narrow(0, i0, m);
        const Tensor t = mul(affine(matmul(ai, ai.transpose(1, 2)), weight ? 1.0 : 0.0, bias ? 1.0 : 0.0),
                             matmul(di, di.transpose(1, 2)));
        out.narrow(0, i0, m).copy_(sum(t, {1, 2}));
    }
}

void linear_gram(const Tensor& a, const Tensor& d, bool weight, bool bias, const PerExampleConfig& cfg, Tensor& out) {
    const i64 B = a.size(0), P = a.size(1), F = a.size(2), O = d.size(2);
    if (B == 0) return;
    if (choose_gram_method(linear_shape(a, d), cfg) == PerExampleMethod::materialize)
        return materialized_gram(linear_source(a, d), weight, bias, cfg.budget, out);
    // Blocks of examples whose (nI P) x (nJ P) products of a and of d fit the budget.
    const i64 n = std::clamp<i64>(i64(std::sqrt(double(cfg.budget) / 2.0)) / std::max<i64>(P, 1), 1, B);
    for (i64 i0 = 0; i0 < B; i0 += n) {
        const i64 nI = std::min(n, B - i0);
        const Tensor aI = a.narrow(0, i0, nI).reshape({nI * P, F}), dI = d.narrow(0, i0, nI).reshape({nI * P, O});
        // Blocks on and below the diagonal; block (J, I) is block (I, J) transposed.
        for (i64 j0 = 0; j0 <= i0; j0 += n) {
            const i64 nJ = std::min(n, B - j0);
            const Tensor aJ = a.narrow(0, j0, nJ).reshape({nJ * P, F}), dJ = d.narrow(0, j0, nJ).reshape({nJ * P, O});
            const Tensor blk = patch_block(matmul(aI, aJ.t()), matmul(dI, dJ.t()), nI, nJ, P, weight, bias);
            out.narrow(0, i0, nI).narrow(1, j0, nJ).copy_(blk);
            if (j0 != i0) out.narrow(0, j0, nJ).narrow(1, i0, nI).copy_(blk.t());
        }
    }
    symmetrize(out);  // the diagonal blocks
}

void linear_moments(const Tensor& a, const Tensor& d, bool weight, bool bias, const PerExampleConfig& cfg,
                    PerExampleMoments& out) {
    const i64 B = a.size(0), P = a.size(1);
    if (empty_batch(B, {&out.sum_weight, &out.sum_sq_weight, &out.sum_bias, &out.sum_sq_bias})) return;
    if (P != 1) return materialized_moments(linear_source(a, d), weight, bias, cfg.budget, out);
    // Without extra dims g_i = d_i a_i^T, so the sums are D^T A and (D o D)^T (A o A).
    const Tensor A = a.view({B, a.size(2)}), D = d.view({B, d.size(2)});
    if (weight) {
        out.sum_weight.copy_(matmul(D.t(), A));
        out.sum_sq_weight.copy_(matmul(square(D).t(), square(A)));
    }
    if (bias) bias_moments(D, out);
}

// ---- Conv2d -----------------------------------------------------------------------------------------

void conv2d_grad_weight(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g,
                        Tensor& rows) {
    const Source s = conv_source(x, dy, w_shape, g);
    if (s.B == 0) return;
    s.for_each_block(kPerExampleDefaultBudget,
                     [&](const Tensor& blk, i64 c0) { rows.narrow(1, c0, blk.size(1)).copy_(blk); });
}

void conv2d_grad_bias(const Tensor& dy, Tensor& rows) {
    if (dy.size(0) != 0) rows.copy_(sum(dy, {2, 3}));
}

void conv2d_sq_norms(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g, bool weight,
                     bool bias, const PerExampleConfig& cfg, Tensor& out) {
    refuse_conv_patches("conv2d_per_example_sq_norms", cfg, x);
    if (x.size(0) != 0) materialized_sq_norms(conv_source(x, dy, w_shape, g), weight, bias, cfg.budget, out);
}

void conv2d_gram(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g, bool weight,
                 bool bias, const PerExampleConfig& cfg, Tensor& out) {
    refuse_conv_patches("conv2d_per_example_gram", cfg, x);
    if (x.size(0) != 0) materialized_gram(conv_source(x, dy, w_shape, g), weight, bias, cfg.budget, out);
}

void conv2d_moments(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g, bool weight,
                    bool bias, const PerExampleConfig& cfg, PerExampleMoments& out) {
    refuse_conv_patches("conv2d_per_example_moments", cfg, x);
    if (empty_batch(x.size(0), {&out.sum_weight, &out.sum_sq_weight, &out.sum_bias, &out.sum_sq_bias})) return;
    materialized_moments(conv_source(x, dy, w_shape, g), weight, bias, cfg.budget, out);
}

// ---- BatchNorm (eval), rows ---------------------------------------------------------------------------

void batch_norm_grad_weight(const Tensor& x, const Tensor& dy, const Tensor& running_mean, const Tensor& running_var,
                            double eps, Tensor& rows) {
    if (x.size(0) == 0) return;
    const i64 C = x.size(1);
    const Tensor invstd = pow(affine(running_var, 1.0, eps), -0.5).view({1, C, 1});
    const Tensor xhat = mul(binary(BinaryOp::sub, x, running_mean.view({1, C, 1})), invstd);
    rows.copy_(sum(mul(dy, xhat), {2}));
}

void batch_norm_grad_bias(const Tensor& dy, Tensor& rows) {
    if (dy.size(0) != 0) rows.copy_(sum(dy, {2}));
}

void row_sq_norms(const Tensor& g, Tensor& out) {
    if (g.size(0) != 0) out.copy_(sum(square(g), {1}));
}

void row_gram(const Tensor& g, Tensor& out) {
    if (g.size(0) == 0) return;
    out.copy_(matmul(g, g.t()));
    symmetrize(out);
}

}  // namespace gs::kernels::composite
