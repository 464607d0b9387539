#pragma once
// Stiffness (Fort et al. 2019, papers.md §2.1) from the Gram matrix of per-example gradients:
// cosine and sign stiffness per pair, class-stiffness matrices, block means (train-train,
// train-val, val-val), stiffness vs input distance and the dynamical critical length xi. Pure
// arithmetic on small (B, B) matrices; computing the Gram (nn::PerExampleCollector) and training
// live in the binary (experiments/gs_stiffness.cpp) and measure_gram below.
//
// Conventions (written into every output file by the binary):
// - g_i is the gradient of example i's OWN loss over all trainable parameters, flattened.
// - sign(0) = 0 (papers.md §5): an exactly orthogonal pair, or a pair with a zero gradient, counts 0.
// - Zero gradients: cos(g_i, g_j) is undefined when ||g_i|| = 0; it is taken as 0, and such
//   examples are counted (zero_gradients) so the reader can see how often it happens.
// - The diagonal (i == j) is 1 for nonzero gradients (0 for zero ones) but is never part of an
//   aggregate over one set: pairs i == j are excluded, as in C(a, b) = E_{X1 != X2}[S].
#include <cstdint>
#include <optional>
#include <vector>

#include "nn/module.h"
#include "tensor/tensor.h"

namespace gs::exp::stiffness {

// Row-major dense matrix of doubles (B x B stiffness, K x K class matrices, distances).
struct Matrix {
    std::int64_t rows = 0, cols = 0;
    std::vector<double> v;
    Matrix() = default;
    Matrix(std::int64_t r, std::int64_t c, double fill = 0.0) : rows(r), cols(c), v(std::size_t(r * c), fill) {}
    double& operator()(std::int64_t i, std::int64_t j) { return v[std::size_t(i * cols + j)]; }
    double operator()(std::int64_t i, std::int64_t j) const { return v[std::size_t(i * cols + j)]; }
    // From a 2-D tensor of any float dtype (copied to f64).
    static Matrix from_tensor(const Tensor& t);
};

struct PairStiffness {
    Matrix cosine;  // (B, B): G_ij / sqrt(G_ii G_jj), 0 where either gradient is zero
    Matrix sign;    // (B, B): sign(G_ij) in {-1, 0, 1}
    std::int64_t zero_gradients = 0;  // examples with G_ii == 0
};

// gram: (B, B) symmetric, <g_i, g_j>. Throws when it is not square.
PairStiffness pair_stiffness(const Matrix& gram);

// Mean of s(i, j) over rows [r0, r1) x cols [c0, c1), leaving out i == j (only meaningful when the
// two ranges index the same examples, e.g. train-train). NaN when there is no pair.
double block_mean(const Matrix& s, std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1);

// Class-stiffness matrix C(a, b) = mean of s(i, j) over pairs with row label a and column label b,
// i != j, for the examples in [begin, end) of s (labels indexed the same way, in [0, K)). Entries
// without pairs are NaN (e.g. a class with one example on the diagonal).
Matrix class_stiffness(const Matrix& s, const std::vector<std::int64_t>& labels, std::int64_t K, std::int64_t begin,
                       std::int64_t end);

// Mean of the diagonal (within-class) and of the off-diagonal entries (between-class) of a K x K
// class matrix, skipping NaN entries (NaN when all are NaN).
struct ClassMeans {
    double within = 0, between = 0;
};
ClassMeans class_means(const Matrix& c);

// CIFAR-100 (papers.md §2.3: "awareness of super-class membership"): the between-class cells C(a, b),
// a != b, of a fine-class matrix split by whether classes a and b share a super-class. fine_to_coarse
// maps each of the K fine classes to its super-class (-1: unknown, its cells are skipped). NaN for
// a group without cells.
struct SuperclassSplit {
    double same = 0, other = 0;
};
SuperclassSplit superclass_split(const Matrix& c, const std::vector<std::int64_t>& fine_to_coarse);

// The super-class of each of K fine classes as seen in paired (fine, coarse) labels: -1 for a class
// that does not occur. nullopt when a fine class occurs with two super-classes (e.g. after
// randomizing the fine labels), so there is no mapping.
std::optional<std::vector<std::int64_t>> fine_to_coarse(const std::vector<std::int64_t>& fine,
                                                        const std::vector<std::int64_t>& coarse, std::int64_t K);

enum class Distance { euclidean, cosine };
const char* distance_name(Distance d);

// x: (N, D) (any float dtype; images are flattened by the caller) -> (N, N) distances:
// euclidean ||x_i - x_j||, cosine 1 - x_i.x_j / (|x_i||x_j|) (1 when either vector is zero).
Matrix pairwise_distances(const Tensor& x, Distance d);

// Stiffness binned by distance over the pairs i < j of all N examples: `bins` equal-width bins
// over [0, max distance] (the last bin is closed). mean[b] is NaN for an empty bin.
struct DistanceCurve {
    std::vector<double> edges;  // bins + 1
    std::vector<double> mean;   // bins
    std::vector<std::int64_t> count;
    double center(std::size_t b) const { return 0.5 * (edges[b] + edges[b + 1]); }
};
DistanceCurve stiffness_vs_distance(const Matrix& s, const Matrix& dist, std::int64_t bins);

// The dynamical critical length xi read off a binned curve. Rule: walk the bins in order of
// distance, skipping bins with fewer than min_count pairs; xi is the first distance where the
// mean falls to `threshold` or below, linearly interpolated between the centers of the last bin
// above and the first bin at or below. When the first usable bin is already at or below the
// threshold, xi is its center (a crossing before the smallest measured distance is not resolved).
// nullopt when the curve never falls to the threshold (xi is beyond the largest distance seen).
// The binary reports xi at threshold 0 (the paper's "stiffness falls to ~0") and at half the first
// usable bin's value (a half-decay length, defined even when the curve stays positive).
std::optional<double> critical_length(const DistanceCurve& curve, double threshold, std::int64_t min_count = 1);
// The first usable bin's mean (NaN when none), for the half-decay threshold.
double first_bin_mean(const DistanceCurve& curve, std::int64_t min_count = 1);

// Runs `model` on x (B, ...) in eval mode with a PerExampleCollector (BatchNorm policy eval_stats),
// backpropagates the SUM of the per-example cross-entropy losses, and returns the (B, B) Gram of
// the per-example gradients over all parameters, their squared norms (B) and the losses (B).
// Parameter .grad values are left as they were (the passes freeze the parameters: no summed
// gradient is formed). The model's training mode is restored.
//
// chunk > 0 bounds the memory (the collector holds every layer's input and output gradient for the
// examples of one pass, and its Gram kernels scratch in proportion): the examples are cut into
// chunks of `chunk` and each pair of chunks I < J runs as one pass of 2 x chunk examples whose
// Gram gives the blocks G[I,I], G[I,J], G[J,J] (a single chunk runs alone). Per-example gradients
// do not depend on which examples share a pass (eval mode), so the result equals the one-pass
// Gram up to rounding; the price is about (B / chunk) / 2 times the forward and backward work.
// chunk <= 0 or >= B: one pass.
struct GramResult {
    Matrix gram;
    std::vector<double> squared_norms;
    std::vector<double> losses;
    std::vector<std::int64_t> predictions;
};
GramResult measure_gram(nn::Module& model, const Tensor& x, const Tensor& labels, std::int64_t chunk = 0);

}  // namespace gs::exp::stiffness
