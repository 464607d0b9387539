#pragma once
// Reductions over a set of axes (sum, mean, var, max, min), arg-reductions over one dim
// (argmax, argmin) and sum_to, the "undo a broadcast" sum that autograd needs.
//
// Determinism: every output element is reduced by one thread in a fixed order, or, for a few
// outputs each reducing very many elements, over fixed-size blocks whose partial results are
// combined in block order. Either way the result does not depend on the thread count.
// Floating sums (sum, mean, var) accumulate in double, also for f32.
// NaN: sum/mean/var propagate NaN arithmetically; max/min/argmax/argmin treat NaN as the extreme
// (the first NaN wins), so a NaN is never hidden.
#include <cstdint>
#include <vector>

#include "kernels/host_device.h"
#include "tensor/tensor.h"

namespace gs::kernels {

// ---- reducer functors --------------------------------------------------------------------------
// A reducer has init() -> Acc, step(Acc, T x) -> Acc, combine(Acc, Acc) -> Acc (for the blocked
// path; the left argument holds the earlier elements) and done(Acc, n) -> T.

// True when `cand` should replace `best` as the maximum: strictly greater (so ties keep the first
// index), or NaN while best is not NaN (NaN counts as the maximum, and the first NaN stays).
struct GreaterOrNan {
    template <class T> GS_HOST_DEVICE bool operator()(T cand, T best) const {
        return best == best && (cand > best || cand != cand);
    }
};
// The same for the minimum.
struct LessOrNan {
    template <class T> GS_HOST_DEVICE bool operator()(T cand, T best) const {
        return best == best && (cand < best || cand != cand);
    }
};

struct SumReducer {
    GS_HOST_DEVICE double init() const { return 0.0; }
    template <class T> GS_HOST_DEVICE double step(double acc, T x) const { return acc + double(x); }
    GS_HOST_DEVICE double combine(double a, double b) const { return a + b; }
    template <class T> GS_HOST_DEVICE T done(double acc, std::int64_t) const { return T(acc); }
};
// mean of zero elements is 0/0 = NaN.
struct MeanReducer {
    GS_HOST_DEVICE double init() const { return 0.0; }
    template <class T> GS_HOST_DEVICE double step(double acc, T x) const { return acc + double(x); }
    GS_HOST_DEVICE double combine(double a, double b) const { return a + b; }
    template <class T> GS_HOST_DEVICE T done(double acc, std::int64_t n) const { return T(acc / double(n)); }
};
// The second pass of the two-pass variance: sum of squared deviations from the (first-pass) mean,
// divided by max(n - correction, 0) (so n <= correction gives inf, or NaN for 0/0, like torch).
struct SquaredDeviationReducer {
    double mean;
    double correction;
    GS_HOST_DEVICE double init() const { return 0.0; }
    template <class T> GS_HOST_DEVICE double step(double acc, T x) const {
        const double d = double(x) - mean;
        return acc + d * d;
    }
    GS_HOST_DEVICE double combine(double a, double b) const { return a + b; }
    template <class T> GS_HOST_DEVICE T done(double acc, std::int64_t n) const {
        const double denom = double(n) - correction;
        return T(acc / (denom > 0.0 ? denom : 0.0));
    }
};
// Max/min reducers keep the element type; Better is GreaterOrNan or LessOrNan. Callers seed the
// accumulator with the first element (the reduced extent is never empty for these).
template <class T, class Better>
struct ExtremeReducer {
    T first;
    GS_HOST_DEVICE T init() const { return first; }
    GS_HOST_DEVICE T step(T acc, T x) const { return Better{}(x, acc) ? x : acc; }
    GS_HOST_DEVICE T combine(T a, T b) const { return Better{}(b, a) ? b : a; }
    template <class U> GS_HOST_DEVICE U done(T acc, std::int64_t) const { return U(acc); }
};

// ---- public API -----------------------------------------------------------------------------------

enum class ReduceOp : std::uint8_t { sum, mean, max, min };
const char* op_name(ReduceOp op);

// Reduces x over `axes` (empty = all; negative counts from the end; duplicates are an error).
// keepdim keeps reduced dims as size 1. x may be strided. sum/mean: f32/f64; max/min: any dtype
// (NaN propagates). Reducing an empty extent gives 0 (sum), NaN (mean), and throws for max/min.
Tensor reduce(ReduceOp op, const Tensor& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);
Tensor sum(const Tensor& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);
Tensor mean(const Tensor& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);
Tensor max(const Tensor& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);
Tensor min(const Tensor& x, const std::vector<std::int64_t>& axes = {}, bool keepdim = false);
// Variance over `axes`: sum((x - mean)^2) / max(n - correction, 0). correction = 1 is the unbiased
// estimator, 0 the population variance. Two passes (mean first), f32/f64.
Tensor var(const Tensor& x, const std::vector<std::int64_t>& axes = {}, std::int64_t correction = 1,
           bool keepdim = false);
// Index (i64) of the maximum / minimum along `dim`: the first one on ties; a NaN counts as the
// extreme (the first NaN's index is returned). Any dtype; throws for an empty dim.
Tensor argmax(const Tensor& x, std::int64_t dim, bool keepdim = false);
Tensor argmin(const Tensor& x, std::int64_t dim, bool keepdim = false);

// Sums x down to `shape`, which must broadcast to x.shape() (numpy rules): the gradient of a
// broadcast. Always returns a new contiguous tensor of `shape` (a copy when nothing is summed).
Tensor sum_to(const Tensor& x, const Shape& shape);

// The wrapped, sorted reduction axes (all dims for an empty list); throws naming `op` on an
// out-of-range or duplicate axis. Exposed for autograd, which needs the same reading of `axes`.
std::vector<std::int64_t> normalize_axes(const std::vector<std::int64_t>& axes, std::int64_t ndim, const char* op);
// x's shape with `axes` (normalized) removed, or set to 1 when keepdim.
Shape reduced_shape(const Shape& shape, const std::vector<std::int64_t>& axes, bool keepdim);

namespace cpu {
// src: contiguous, read as [A, R, B]; output (a, b), stored at out[a*B + b], reduces
// src[a, 0..R, b]. out: A*B contiguous elements, assigned. R may be 0 only for sum/mean/var.
void reduce(ReduceOp op, const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, Tensor& out);
void var(const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, double correction, Tensor& out);
// The same layout; out (i64) gets the index r in [0, R) of the extreme (R > 0).
void argmax(const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, Tensor& out);
void argmin(const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, Tensor& out);
}  // namespace cpu

namespace cuda {
// The same contracts on CUDA tensors (reduce_cuda.cu); deterministic for a given shape.
void reduce(ReduceOp op, const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, Tensor& out);
void var(const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, double correction, Tensor& out);
void argmax(const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, Tensor& out);
void argmin(const Tensor& src, std::int64_t A, std::int64_t R, std::int64_t B, Tensor& out);
}  // namespace cuda

}  // namespace gs::kernels
