// Entry points of the per-example kernels: validation, reshaping to the (B, P, F) patch layout,
// output allocation, and the flop model that picks a method.
#include "kernels/per_example.h"

#include <atomic>
#include <cmath>

#include "tensor/dtype.h"
#include "tensor/error.h"

namespace gs::kernels {
namespace {

using i64 = std::int64_t;

std::atomic<bool> g_composite{false};

// CUDA tensors always take the composite kernels; CPU tensors take them when asked to.
bool composite_path(const Tensor& t) { return t.device().is_cuda() || g_composite.load(); }

#define GS_PER_EXAMPLE_CALL(t, fn, ...) (composite_path(t) ? composite::fn(__VA_ARGS__) : cpu::fn(__VA_ARGS__))

void check_float_pair(const char* op, const Tensor& a, const Tensor& b) {
    GS_CHECK(a.defined() && b.defined(), op, ": an input tensor is undefined");
    check_same_device(op, {&a, &b});
    GS_CHECK(is_floating(a.dtype()) && a.dtype() == b.dtype(), op, ": needs two f32 or two f64 tensors, got ",
             a.describe(), " and ", b.describe());
}

// a (B, ..., I) and d (B, ..., O) -> contiguous (B, P, I) and (B, P, O).
std::pair<Tensor, Tensor> linear_patches(const char* op, const Tensor& a, const Tensor& d) {
    check_float_pair(op, a, d);
    GS_CHECK(a.dim() >= 2 && a.dim() == d.dim(), op, ": expected a (B, ..., I) and d (B, ..., O) of one rank >= 2, got ",
             a.describe(), " and ", d.describe());
    for (i64 k = 0; k + 1 < a.dim(); ++k)
        GS_CHECK(a.size(k) == d.size(k), op, ": a ", a.describe(), " and d ", d.describe(),
                 " differ outside the last dim");
    const i64 B = a.size(0), I = a.size(-1), O = d.size(-1);
    const i64 P = B == 0 ? 1 : a.numel() / std::max<i64>(B * I, 1);
    return {a.contiguous().reshape({B, P, I}), d.contiguous().reshape({B, P, O})};
}

void check_conv(const char* op, const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g) {
    check_float_pair(op, x, dy);
    const Shape ys = validate_conv2d(op, x.shape(), w_shape, g);
    GS_CHECK(dy.shape() == ys, op, ": dy ", dy.describe(), " does not match the convolution output ", shape_str(ys),
             " of x ", x.describe(), " and weight ", shape_str(w_shape), " with ", g.str());
}

// x (B, C) or (B, C, ...) -> contiguous (B, C, S).
Tensor bn_3d(const Tensor& x) {
    const i64 B = x.size(0), C = x.size(1);
    return x.contiguous().reshape({B, C, B * C == 0 ? 1 : x.numel() / (B * C)});
}

PerExampleMoments alloc_moments(const Shape& w_shape, i64 O, const Tensor& like, bool weight, bool bias) {
    const DType dt = like.dtype();
    const Device dev = like.device();
    PerExampleMoments m;
    if (weight) m.sum_weight = Tensor::empty(w_shape, dt, dev), m.sum_sq_weight = Tensor::empty(w_shape, dt, dev);
    if (bias) m.sum_bias = Tensor::empty({O}, dt, dev), m.sum_sq_bias = Tensor::empty({O}, dt, dev);
    return m;
}

// rows: (B, n) of the input's dtype with unit column stride and row stride >= n, on its device.
void check_rows(const char* op, const Tensor& rows, i64 B, i64 n, const Tensor& input) {
    const DType dt = input.dtype();
    GS_CHECK(rows.defined() && rows.dim() == 2 && rows.size(0) == B && rows.size(1) == n && rows.dtype() == dt &&
                 (n <= 1 || rows.stride(1) == 1) && (B <= 1 || rows.stride(0) >= n),
             op, ": rows must be (", B, ", ", n, ") ", dtype_name(dt), " with unit column stride, got ",
             rows.defined() ? rows.describe() : "undefined");
    check_same_device(op, {&input, &rows});
}

void check_budget(const char* op, const PerExampleConfig& cfg) {
    GS_CHECK(cfg.budget >= 1, op, ": the scratch budget must be positive, got ", cfg.budget);
}

}  // namespace

void set_per_example_composite(bool enabled) { g_composite.store(enabled); }
bool per_example_composite() { return g_composite.load(); }

const char* per_example_method_name(PerExampleMethod m) {
    switch (m) {
        case PerExampleMethod::automatic: return "automatic";
        case PerExampleMethod::materialize: return "materialize";
        case PerExampleMethod::patches: return "patches";
    }
    return "?";
}

PerExampleCost per_example_cost(const PatchShape& s, std::int64_t /*budget*/) {
    const double B = double(s.B), P = double(s.P), G = double(s.G);
    const double Fg = double(s.F) / G, Og = double(s.O) / G, n = double(s.O) * Fg;
    const double form = 2 * P * double(s.O) * Fg;  // one example's gradient
    const double pair = G * (2 * P * P * (Fg + Og) + 2 * P * P);
    PerExampleCost c;
    c.norms_materialize = B * (form + 2 * n);
    c.norms_patches = B * pair;
    // Every gradient formed once (the Gram blocks over parameters), then the lower triangle of
    // R R^T: B(B+1)/2 dot products of length n.
    c.gram_materialize = form * B + B * (B + 1) * n;
    c.gram_patches = B * (B + 1) / 2 * pair;
    return c;
}

PerExampleMethod choose_norms_method(const PatchShape& s, const PerExampleConfig& cfg) {
    if (cfg.method != PerExampleMethod::automatic) return cfg.method;
    const PerExampleCost c = per_example_cost(s, cfg.budget);
    return c.norms_patches < c.norms_materialize ? PerExampleMethod::patches : PerExampleMethod::materialize;
}

PerExampleMethod choose_gram_method(const PatchShape& s, const PerExampleConfig& cfg) {
    if (cfg.method != PerExampleMethod::automatic) return cfg.method;
    const PerExampleCost c = per_example_cost(s, cfg.budget);
    return c.gram_patches < c.gram_materialize ? PerExampleMethod::patches : PerExampleMethod::materialize;
}

// ---- Linear ---------------------------------------------------------------------------------------

void linear_per_example_grad_weight_into(const Tensor& a, const Tensor& d, Tensor& rows) {
    const char* op = "linear_per_example_grad_weight";
    const auto [a3, d3] = linear_patches(op, a, d);
    check_rows(op, rows, a3.size(0), d3.size(2) * a3.size(2), a);
    GS_PER_EXAMPLE_CALL(a3, linear_grad_weight, a3, d3, rows);
}

Tensor linear_per_example_grad_weight(const Tensor& a, const Tensor& d) {
    GS_CHECK(a.defined() && d.defined() && a.dim() >= 2 && d.dim() >= 2, "linear_per_example_grad_weight: expected a (B, ..., I) "
             "and d (B, ..., O)");
    const i64 B = a.size(0), O = d.size(-1), I = a.size(-1);
    Tensor rows = Tensor::empty({B, O * I}, a.dtype(), a.device());
    linear_per_example_grad_weight_into(a, d, rows);
    return rows.view({B, O, I});
}

namespace {
Tensor linear_d3(const char* op, const Tensor& d) {
    GS_CHECK(d.defined() && d.dim() >= 2 && is_floating(d.dtype()), op, ": expected d (B, ..., O) f32/f64, got ",
             d.defined() ? d.describe() : "undefined");
    const i64 B = d.size(0), O = d.size(-1);
    return d.contiguous().reshape({B, B == 0 ? 1 : d.numel() / std::max<i64>(B * O, 1), O});
}
}  // namespace

void linear_per_example_grad_bias_into(const Tensor& d, Tensor& rows) {
    const char* op = "linear_per_example_grad_bias";
    const Tensor d3 = linear_d3(op, d);
    check_rows(op, rows, d3.size(0), d3.size(2), d);
    GS_PER_EXAMPLE_CALL(d3, linear_grad_bias, d3, rows);
}

Tensor linear_per_example_grad_bias(const Tensor& d) {
    const Tensor d3 = linear_d3("linear_per_example_grad_bias", d);
    Tensor rows = Tensor::empty({d3.size(0), d3.size(2)}, d.dtype(), d.device());
    GS_PER_EXAMPLE_CALL(d3, linear_grad_bias, d3, rows);
    return rows;
}

Tensor linear_per_example_sq_norms(const Tensor& a, const Tensor& d, bool weight, bool bias,
                                   const PerExampleConfig& cfg) {
    check_budget("linear_per_example_sq_norms", cfg);
    const auto [a3, d3] = linear_patches("linear_per_example_sq_norms", a, d);
    Tensor out = Tensor::empty({a3.size(0)}, a.dtype(), a.device());
    GS_PER_EXAMPLE_CALL(a3, linear_sq_norms, a3, d3, weight, bias, cfg, out);
    return out;
}

Tensor linear_per_example_gram(const Tensor& a, const Tensor& d, bool weight, bool bias, const PerExampleConfig& cfg) {
    check_budget("linear_per_example_gram", cfg);
    const auto [a3, d3] = linear_patches("linear_per_example_gram", a, d);
    Tensor out = Tensor::empty({a3.size(0), a3.size(0)}, a.dtype(), a.device());
    GS_PER_EXAMPLE_CALL(a3, linear_gram, a3, d3, weight, bias, cfg, out);
    return out;
}

PerExampleMoments linear_per_example_moments(const Tensor& a, const Tensor& d, bool weight, bool bias,
                                             const PerExampleConfig& cfg) {
    check_budget("linear_per_example_moments", cfg);
    const auto [a3, d3] = linear_patches("linear_per_example_moments", a, d);
    PerExampleMoments m = alloc_moments({d3.size(2), a3.size(2)}, d3.size(2), a, weight, bias);
    GS_PER_EXAMPLE_CALL(a3, linear_moments, a3, d3, weight, bias, cfg, m);
    return m;
}

// ---- Conv2d ---------------------------------------------------------------------------------------

PatchShape conv2d_patch_shape(const Shape& x_shape, const Shape& w_shape, const Conv2dGeometry& g) {
    const Shape ys = validate_conv2d("conv2d_patch_shape", x_shape, w_shape, g);
    PatchShape s;
    s.B = x_shape[0];
    s.P = ys[2] * ys[3];
    s.F = x_shape[1] * w_shape[2] * w_shape[3];
    s.O = w_shape[0];
    s.G = g.groups;
    return s;
}

void conv2d_per_example_grad_weight_into(const Tensor& x, const Tensor& dy, const Shape& w_shape,
                                         const Conv2dGeometry& g, Tensor& rows) {
    const char* op = "conv2d_per_example_grad_weight";
    check_conv(op, x, dy, w_shape, g);
    check_rows(op, rows, x.size(0), numel(w_shape), x);
    GS_PER_EXAMPLE_CALL(x, conv2d_grad_weight, x.contiguous(), dy.contiguous(), w_shape, g, rows);
}

Tensor conv2d_per_example_grad_weight(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g) {
    check_conv("conv2d_per_example_grad_weight", x, dy, w_shape, g);
    Tensor rows = Tensor::empty({x.size(0), numel(w_shape)}, x.dtype(), x.device());
    GS_PER_EXAMPLE_CALL(x, conv2d_grad_weight, x.contiguous(), dy.contiguous(), w_shape, g, rows);
    return rows.view({x.size(0), w_shape[0], w_shape[1], w_shape[2], w_shape[3]});
}

namespace {
void check_conv_dy(const char* op, const Tensor& dy) {
    GS_CHECK(dy.defined() && dy.dim() == 4 && is_floating(dy.dtype()), op, ": expected dy (B, K, OH, OW) f32/f64, got ",
             dy.defined() ? dy.describe() : "undefined");
}
}  // namespace

void conv2d_per_example_grad_bias_into(const Tensor& dy, Tensor& rows) {
    const char* op = "conv2d_per_example_grad_bias";
    check_conv_dy(op, dy);
    check_rows(op, rows, dy.size(0), dy.size(1), dy);
    GS_PER_EXAMPLE_CALL(dy, conv2d_grad_bias, dy.contiguous(), rows);
}

Tensor conv2d_per_example_grad_bias(const Tensor& dy) {
    check_conv_dy("conv2d_per_example_grad_bias", dy);
    Tensor rows = Tensor::empty({dy.size(0), dy.size(1)}, dy.dtype(), dy.device());
    GS_PER_EXAMPLE_CALL(dy, conv2d_grad_bias, dy.contiguous(), rows);
    return rows;
}

Tensor conv2d_per_example_sq_norms(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g,
                                   bool weight, bool bias, const PerExampleConfig& cfg) {
    check_conv("conv2d_per_example_sq_norms", x, dy, w_shape, g);
    check_budget("conv2d_per_example_sq_norms", cfg);
    Tensor out = Tensor::empty({x.size(0)}, x.dtype(), x.device());
    GS_PER_EXAMPLE_CALL(x, conv2d_sq_norms, x.contiguous(), dy.contiguous(), w_shape, g, weight, bias, cfg, out);
    return out;
}

Tensor conv2d_per_example_gram(const Tensor& x, const Tensor& dy, const Shape& w_shape, const Conv2dGeometry& g,
                               bool weight, bool bias, const PerExampleConfig& cfg) {
    check_conv("conv2d_per_example_gram", x, dy, w_shape, g);
    check_budget("conv2d_per_example_gram", cfg);
    Tensor out = Tensor::empty({x.size(0), x.size(0)}, x.dtype(), x.device());
    GS_PER_EXAMPLE_CALL(x, conv2d_gram, x.contiguous(), dy.contiguous(), w_shape, g, weight, bias, cfg, out);
    return out;
}

PerExampleMoments conv2d_per_example_moments(const Tensor& x, const Tensor& dy, const Shape& w_shape,
                                             const Conv2dGeometry& g, bool weight, bool bias,
                                             const PerExampleConfig& cfg) {
    check_conv("conv2d_per_example_moments", x, dy, w_shape, g);
    check_budget("conv2d_per_example_moments", cfg);
    PerExampleMoments m = alloc_moments(w_shape, w_shape[0], x, weight, bias);
    GS_PER_EXAMPLE_CALL(x, conv2d_moments, x.contiguous(), dy.contiguous(), w_shape, g, weight, bias, cfg, m);
    return m;
}

// ---- BatchNorm ------------------------------------------------------------------------------------

namespace {
void check_bn(const char* op, const Tensor& x, const Tensor& dy, const Tensor& running_mean, const Tensor& running_var,
              double eps) {
    check_float_pair(op, x, dy);
    GS_CHECK(x.dim() >= 2 && x.shape() == dy.shape(), op, ": expected x and dy (B, C, ...) of one shape, got ",
             x.describe(), " and ", dy.describe());
    GS_CHECK(running_mean.defined() && running_var.defined() && running_mean.shape() == Shape{x.size(1)} &&
                 running_var.shape() == Shape{x.size(1)} && running_mean.dtype() == x.dtype() &&
                 running_var.dtype() == x.dtype(),
             op, ": running statistics must be (", x.size(1), ") of x's dtype, got ",
             running_mean.defined() ? running_mean.describe() : "undefined", " and ",
             running_var.defined() ? running_var.describe() : "undefined");
    GS_CHECK(eps >= 0, op, ": eps must be >= 0, got ", eps);
    check_same_device(op, {&x, &running_mean, &running_var});
}

void check_bn_dy(const char* op, const Tensor& dy) {
    GS_CHECK(dy.defined() && dy.dim() >= 2 && is_floating(dy.dtype()), op, ": expected dy (B, C, ...) f32/f64, got ",
             dy.defined() ? dy.describe() : "undefined");
}
}  // namespace

void batch_norm_per_example_grad_weight_into(const Tensor& x, const Tensor& dy, const Tensor& running_mean,
                                             const Tensor& running_var, double eps, Tensor& rows) {
    const char* op = "batch_norm_per_example_grad_weight";
    check_bn(op, x, dy, running_mean, running_var, eps);
    check_rows(op, rows, x.size(0), x.size(1), x);
    GS_PER_EXAMPLE_CALL(x, batch_norm_grad_weight, bn_3d(x), bn_3d(dy), running_mean.contiguous(),
                        running_var.contiguous(), eps, rows);
}

Tensor batch_norm_per_example_grad_weight(const Tensor& x, const Tensor& dy, const Tensor& running_mean,
                                          const Tensor& running_var, double eps) {
    check_bn("batch_norm_per_example_grad_weight", x, dy, running_mean, running_var, eps);
    Tensor rows = Tensor::empty({x.size(0), x.size(1)}, x.dtype(), x.device());
    GS_PER_EXAMPLE_CALL(x, batch_norm_grad_weight, bn_3d(x), bn_3d(dy), running_mean.contiguous(),
                        running_var.contiguous(), eps, rows);
    return rows;
}

void batch_norm_per_example_grad_bias_into(const Tensor& dy, Tensor& rows) {
    const char* op = "batch_norm_per_example_grad_bias";
    check_bn_dy(op, dy);
    check_rows(op, rows, dy.size(0), dy.size(1), dy);
    GS_PER_EXAMPLE_CALL(dy, batch_norm_grad_bias, bn_3d(dy), rows);
}

Tensor batch_norm_per_example_grad_bias(const Tensor& dy) {
    check_bn_dy("batch_norm_per_example_grad_bias", dy);
    Tensor rows = Tensor::empty({dy.size(0), dy.size(1)}, dy.dtype(), dy.device());
    GS_PER_EXAMPLE_CALL(dy, batch_norm_grad_bias, bn_3d(dy), rows);
    return rows;
}

// ---- rows -----------------------------------------------------------------------------------------

Tensor per_example_row_sq_norms(const Tensor& g) {
    GS_CHECK(g.defined() && g.dim() == 2 && is_floating(g.dtype()),
             "per_example_row_sq_norms: expected g (B, n) f32/f64, got ", g.defined() ? g.describe() : "undefined");
    Tensor out = Tensor::empty({g.size(0)}, g.dtype(), g.device());
    GS_PER_EXAMPLE_CALL(g, row_sq_norms, g.contiguous(), out);
    return out;
}

Tensor per_example_row_gram(const Tensor& g) {
    GS_CHECK(g.defined() && g.dim() == 2 && is_floating(g.dtype()),
             "per_example_row_gram: expected g (B, n) f32/f64, got ", g.defined() ? g.describe() : "undefined");
    Tensor out = Tensor::empty({g.size(0), g.size(0)}, g.dtype(), g.device());
    GS_PER_EXAMPLE_CALL(g, row_gram, g.contiguous(), out);
    return out;
}

#undef GS_PER_EXAMPLE_CALL

}  // namespace gs::kernels
