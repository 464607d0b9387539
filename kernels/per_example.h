#pragma once
// Per-example gradient quantities of one layer, computed from what a backward pass already has:
// the layer's input activations and the gradient of its output. Pure compute, no autograd; the
// collector in nn/per_example.h feeds these kernels. Conventions (every function):
//   - "per-example gradient" g_i is the gradient of example i's own loss, i.e. what one backward
//     pass of the SUM of per-example losses leaves in the layer's output gradient row i;
//   - weight and bias flags select which of the layer's parameters a norm or Gram covers (their
//     contributions add: ||g_i||^2 = ||g_i^W||^2 + ||g_i^b||^2);
//   - inputs are f32 or f64 of one dtype on one device, contiguous after the entry point's
//     .contiguous(); outputs are fresh tensors on that device, assigned (never accumulated).
// CPU tensors run the loops of per_example_cpu.cpp; CUDA tensors run the same quantities composed
// from device-generic ops (per_example_composite.cpp: batched matmul, per-example convolution weight
// gradients as one grouped convolution, elementwise ops and sums), which always materialize Conv2d
// gradients in blocks of output channels (method `patches` is refused for Conv2d there).
//
// Linear and Conv2d share one formulation ("patches"): per example i and group g, a position-major
// patch matrix U_i (P x Fg) and output gradient D_i (P x Og) with
//     G_i = D_i^T U_i  (Og x Fg),          bias_i = sum_p D_i[p, :]
// Linear: P = product of the extra dims of a (1 for (B, I)), F = I, O = out features, one group.
// Conv2d: P = OH*OW, F = C*R*S (unfolded, im2col's (c, r, s) order), O = K, `groups` groups.
// Two ways to get norms and Gram entries of the weight part:
//   materialize: form G_i, then ||G_i||^2 or <G_i, G_j>;
//   patches:     ||G_i||^2 = sum_{p,q} (u_ip . u_iq)(d_ip . d_iq)  and
//                <G_i, G_j> = sum_{p,q} (u_ip . u_jq)(d_ip . d_jq)   (no G formed; P = 1 gives
//                Linear's ||a_i||^2 ||d_i||^2 and (A A^T) o (D D^T)).
// `automatic` picks the one with the smaller flop estimate (per_example_cost below), per layer.
#include <cstdint>

#include "kernels/conv2d.h"
#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace gs::kernels {

enum class PerExampleMethod { automatic, materialize, patches };
const char* per_example_method_name(PerExampleMethod m);

// Elements of scratch a kernel may hold at once for materialized per-example gradients, unfolded
// patches or patch-product blocks (2^25 = 128 MiB in f32); work beyond it runs in chunks of
// examples. Results do not depend on the budget beyond float summation order.
constexpr std::int64_t kPerExampleDefaultBudget = std::int64_t(1) << 25;

struct PerExampleConfig {
    PerExampleMethod method = PerExampleMethod::automatic;
    std::int64_t budget = kPerExampleDefaultBudget;
};

// The sizes of one layer in the patch formulation (F and O are totals over the groups).
struct PatchShape {
    std::int64_t B = 0, P = 1, F = 0, O = 0, G = 1;
};

// Flop estimates (multiply-adds counted as 2) of the two methods for one layer's weight part.
// Documented formulas, with Fg = F/G, Og = O/G, n = O*Fg (weight elements):
//   norms, materialize: B * (2 P O Fg + 2 n)
//   norms, patches:     B * G * (2 P^2 (Fg + Og) + 2 P^2)
//   gram,  materialize: B * 2 P O Fg  +  B (B + 1) n   (each gradient formed once: the Gram is
//                       blocked over parameters, see per_example_cpu.cpp; lower triangle only)
//   gram,  patches:     B(B + 1)/2 * G * (2 P^2 (Fg + Og) + 2 P^2)
// The budget does not enter (kept in the signature for a future model that counts re-fetching).
struct PerExampleCost {
    double norms_materialize = 0, norms_patches = 0, gram_materialize = 0, gram_patches = 0;
};
PerExampleCost per_example_cost(const PatchShape& s, std::int64_t budget);
// The method `automatic` resolves to (the other methods are returned unchanged).
PerExampleMethod choose_norms_method(const PatchShape& s, const PerExampleConfig& cfg);
PerExampleMethod choose_gram_method(const PatchShape& s, const PerExampleConfig& cfg);

// Sums over the batch of per-example gradients and of their elementwise squares.
struct PerExampleMoments {
    Tensor sum_weight, sum_sq_weight;  // the weight's shape
    Tensor sum_bias, sum_sq_bias;      // (O)
};

// ---- the formulas ----------------------------------------------------------------------------------

// One term of a patch-trick sum: (u_p . u_q + bias) * (d_p . d_q), where bias = 1 adds the bias
// part (the bias is a weight on a constant-1 input feature) and weight = 0 drops the weight part.
struct PatchGramTerm {
    template <class T>
    GS_HOST_DEVICE T operator()(T uu, T dd, T weight, T bias) const { return (weight * uu + bias) * dd; }
};

// BatchNorm (eval) per-example gamma gradient term: dy * xhat with xhat = (x - mean) * invstd.
struct BatchNormGammaTerm {
    template <class T>
    GS_HOST_DEVICE T operator()(T dy, T x, T mean, T invstd) const { return dy * ((x - mean) * invstd); }
};

// ---- Linear: y = a W^T + b; a (B, ..., I), d = dL/dy (B, ..., O) with the same extra dims ----------

// (B, O, I): g_i = sum over extra positions of d_i[p]^T a_i[p].
Tensor linear_per_example_grad_weight(const Tensor& a, const Tensor& d);
// (B, O): sum over extra positions of d_i[p].
Tensor linear_per_example_grad_bias(const Tensor& d);
// (B): ||g_i^W||^2 [weight] + ||g_i^b||^2 [bias], without forming g_i when patches is cheaper.
Tensor linear_per_example_sq_norms(const Tensor& a, const Tensor& d, bool weight, bool bias,
                                   const PerExampleConfig& cfg = {});
// (B, B): <g_i, g_j> over the selected parameters; symmetric.
Tensor linear_per_example_gram(const Tensor& a, const Tensor& d, bool weight, bool bias,
                               const PerExampleConfig& cfg = {});
// Sums and sums of squares over the batch; with no extra dims the weight's sum of squares is
// (D o D)^T (A o A) (one GEMM, no per-example gradient formed), otherwise chunked materialization.
PerExampleMoments linear_per_example_moments(const Tensor& a, const Tensor& d, bool weight, bool bias,
                                             const PerExampleConfig& cfg = {});

// ---- Conv2d: x (B, C, H, W), dy (B, K, OH, OW), weight shape (K, C/groups, R, S), geometry g ------

// (B, K, C/groups, R, S).
Tensor conv2d_per_example_grad_weight(const Tensor& x, const Tensor& dy, const Shape& w_shape,
                                      const Conv2dGeometry& g);
// (B, K): sum of dy_i over OH, OW.
Tensor conv2d_per_example_grad_bias(const Tensor& dy);
Tensor conv2d_per_example_sq_norms(const Tensor& x, const Tensor& dy, const Shape& w_shape,
                                   const Conv2dGeometry& g, bool weight, bool bias,
                                   const PerExampleConfig& cfg = {});
Tensor conv2d_per_example_gram(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g,
                               bool weight, bool bias, const PerExampleConfig& cfg = {});
PerExampleMoments conv2d_per_example_moments(const Tensor& x, const Tensor& dy, const Shape& w_shape,
                                             const Conv2dGeometry& g, bool weight, bool bias,
                                             const PerExampleConfig& cfg = {});
// The patch shape of a convolution (for per_example_cost and the tests).
PatchShape conv2d_patch_shape(const Shape& x_shape, const Shape& w_shape, const Conv2dGeometry& g);

// ---- BatchNorm in eval mode: x, dy (B, C) or (B, C, H, W); running statistics (C) ----------------

// (B, C): gamma_i[c] = sum over spatial of dy * (x - running_mean) / sqrt(running_var + eps).
Tensor batch_norm_per_example_grad_weight(const Tensor& x, const Tensor& dy, const Tensor& running_mean,
                                          const Tensor& running_var, double eps);
// (B, C): beta_i[c] = sum over spatial of dy.
Tensor batch_norm_per_example_grad_bias(const Tensor& dy);

// ---- helpers on materialized per-example rows ------------------------------------------------------

// g: (B, n) per-example rows. (B): row squared norms.
Tensor per_example_row_sq_norms(const Tensor& g);
// (B, B) = g g^T.
Tensor per_example_row_gram(const Tensor& g);

// ---- in place: the same per-example gradients written into rows of a caller's matrix ---------------
// `rows` is (B, n) with n the parameter's element count, unit column stride and any row stride
// >= n, so it may be a column slice of a larger (B, P) matrix (how nn::PerExampleCollector fills
// its flattened result without a copy). Same dtype as the inputs; every element is assigned.
void linear_per_example_grad_weight_into(const Tensor& a, const Tensor& d, Tensor& rows);
void linear_per_example_grad_bias_into(const Tensor& d, Tensor& rows);
void conv2d_per_example_grad_weight_into(const Tensor& x, const Tensor& dy, const Shape& w_shape,
                                         const Conv2dGeometry& g, Tensor& rows);
void conv2d_per_example_grad_bias_into(const Tensor& dy, Tensor& rows);
void batch_norm_per_example_grad_weight_into(const Tensor& x, const Tensor& dy, const Tensor& running_mean,
                                             const Tensor& running_var, double eps, Tensor& rows);
void batch_norm_per_example_grad_bias_into(const Tensor& dy, Tensor& rows);

// Tests: route CPU tensors through the composite kernels too (the path CUDA tensors always take),
// so that the CUDA path's logic is checked against the CPU loops on a machine without a GPU.
void set_per_example_composite(bool enabled);
bool per_example_composite();

// The two backends behind the entry points, with one interface (kernels/per_example_backend.inc).
namespace cpu {
#include "kernels/per_example_backend.inc"
}  // namespace cpu

namespace composite {
#include "kernels/per_example_backend.inc"
}  // namespace composite

}  // namespace gs::kernels
