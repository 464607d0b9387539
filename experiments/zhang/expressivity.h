#pragma once
// Zhang et al. 2017, §4, Theorem 1 (papers.md §1.9): a two-layer ReLU network with 2n + d weights
// that fits any real targets on n distinct points in d dimensions, built in closed form in f64.
// The construction and its evaluation only; the gs-expressivity binary (SGD comparison, report)
// lives elsewhere.
#include <cstdint>
#include <limits>

#include "tensor/tensor.h"

namespace gs::exp::zhang {

// c(x) = sum_j w_j * max(<a, x> - b_j, 0): one shared projection a, n thresholds b, n output
// weights w. All f64, contiguous; b is ascending.
struct TwoLayerReluNet {
    Tensor a;  // (D)
    Tensor b;  // (N)
    Tensor w;  // (N)
    // 2N + D, the count in Theorem 1.
    std::int64_t num_weights() const { return 2 * b.numel() + a.numel(); }
};

struct ExpressivityOptions {
    std::uint64_t seed = 0;  // random directions a: normal(0, 1) from Generator(seed), normalized
    int max_directions = 8;  // random directions tried before giving up on distinct projections
    Tensor direction;        // when defined ((D), any float dtype): use it as a, as given, and never retry
};

struct ExpressivityFit {
    TwoLayerReluNet net;
    // Lemma 1: the sample matrix A_ij = max(z_i - b_j, 0) (z sorted) is lower triangular, so its
    // eigenvalues are its diagonal and the smallest is min_i (z_i - b_i) > 0.
    double lemma1_min_eigenvalue = 0;
    // min_i (z_(i+1) - z_(i)) over the sorted projections; +infinity for N = 1.
    double min_projection_gap = std::numeric_limits<double>::infinity();
    int directions_tried = 0;
};

// x: (N, D) float (converted to f64), N >= 1 distinct rows; y: (N) of any dtype (real or integer
// targets, converted to f64), all finite. Builds Theorem 1's network with c(x_i) = y_i in exact
// arithmetic: O(N D + N log N) time and O(N + D) memory (no N x N matrix), so N = 50,000 is cheap.
// Throws gs::Error when two rows of x are identical (no network can separate them), when no
// random direction separates all projections within max_directions tries, or, with an explicit
// direction, when two projections coincide - naming the rows - and on bad shapes or non-finite values.
ExpressivityFit fit_two_layer_relu(const Tensor& x, const Tensor& y, const ExpressivityOptions& options = {});

// How evaluate_two_layer_relu sums the N hidden units. The network's outputs are sums of terms
// w_j (z - b_j) far larger than the result (the slopes grow like 1/gap between neighbouring
// projections, and the smallest gap of N random projections shrinks like 1/N^2), so the rounding of
// that sum, not the construction, dominates the residual of an f64 forward pass at large N.
enum class Summation {
    f64,       // what an f64 forward pass computes: each term and running sum rounded to double
    extended,  // terms and sums in long double (64-bit mantissa on x86-64; == f64 where long double
               // is double): shows how well the f64 parameters themselves represent the targets
};

// net from fit_two_layer_relu; x: (M, D) float. Returns c(x): (M) f64, computed as the network
// does it - a sum over all N hidden units of w_j * relu(<a, x> - b_j), in the stored unit order
// (ascending b; the most accurate order, see relu_sums in the .cpp) for every point. O(M N): it
// does not use the sorted structure to skip units, so it checks the construction independently.
Tensor evaluate_two_layer_relu(const TwoLayerReluNet& net, const Tensor& x, Summation summation = Summation::f64);

// The worst-case scale of the rounding error of c(x_i): max_i sum_j |w_j| relu(<a, x_i> - b_j)
// over the rows of x (M, D). An f64 evaluation's error is at most ~N eps times this (in practice
// far less: the errors of the terms are independent and the running sums stay small); the
// parameters' own rounding to f64 perturbs c(x_i) by up to ~eps times this.
double output_condition(const TwoLayerReluNet& net, const Tensor& x);

// max_i |pred_i - y_i| over two (N) tensors of any dtype (computed in f64); NaN gives +infinity.
double max_abs_residual(const Tensor& pred, const Tensor& y);

}  // namespace gs::exp::zhang
