// Stiffness arithmetic on Gram matrices; see stiffness.h for the definitions and conventions.
#include "experiments/stiffness/stiffness.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "autograd/variable.h"
#include "kernels/reduce.h"
#include "nn/per_example.h"
#include "tensor/error.h"

namespace gs::exp::stiffness {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
}

Matrix Matrix::from_tensor(const Tensor& t) {
    GS_CHECK(t.dim() == 2, "stiffness: expected a 2-D matrix, got ", t.describe());
    Matrix m(t.size(0), t.size(1));
    m.v = t.contiguous().to(DType::f64).to_vector<double>();
    return m;
}

PairStiffness pair_stiffness(const Matrix& gram) {
    GS_CHECK(gram.rows == gram.cols, "pair_stiffness: the Gram matrix must be square, got ", gram.rows, "x", gram.cols);
    const std::int64_t B = gram.rows;
    PairStiffness out{Matrix(B, B), Matrix(B, B), 0};
    std::vector<double> norm(static_cast<std::size_t>(B));
    for (std::int64_t i = 0; i < B; ++i) {
        // A Gram diagonal can come out a hair below 0 only through rounding; clamp before sqrt.
        norm[std::size_t(i)] = std::sqrt(std::max(gram(i, i), 0.0));
        out.zero_gradients += norm[std::size_t(i)] == 0.0;
    }
    for (std::int64_t i = 0; i < B; ++i)
        for (std::int64_t j = 0; j < B; ++j) {
            const double g = gram(i, j), d = norm[std::size_t(i)] * norm[std::size_t(j)];
            // Rounding can push |cos| a hair above 1 for (near-)parallel gradients: clamp.
            out.cosine(i, j) = d > 0 ? std::clamp(g / d, -1.0, 1.0) : (std::isnan(g) ? kNaN : 0.0);
            out.sign(i, j) = g > 0 ? 1.0 : g < 0 ? -1.0 : (std::isnan(g) ? kNaN : 0.0);
        }
    return out;
}

double block_mean(const Matrix& s, std::int64_t r0, std::int64_t r1, std::int64_t c0, std::int64_t c1) {
    GS_CHECK(0 <= r0 && r0 <= r1 && r1 <= s.rows && 0 <= c0 && c0 <= c1 && c1 <= s.cols, "block_mean: block [", r0, ",",
             r1, ") x [", c0, ",", c1, ") outside a ", s.rows, "x", s.cols, " matrix");
    double sum = 0;
    std::int64_t n = 0;
    for (std::int64_t i = r0; i < r1; ++i)
        for (std::int64_t j = c0; j < c1; ++j)
            if (i != j) sum += s(i, j), ++n;
    return n ? sum / double(n) : kNaN;
}

Matrix class_stiffness(const Matrix& s, const std::vector<std::int64_t>& labels, std::int64_t K, std::int64_t begin,
                       std::int64_t end) {
    GS_CHECK(s.rows == s.cols && std::int64_t(labels.size()) == s.rows, "class_stiffness: ", s.rows, "x", s.cols,
             " matrix with ", labels.size(), " labels");
    GS_CHECK(0 <= begin && begin <= end && end <= s.rows, "class_stiffness: range [", begin, ",", end, ") outside ", s.rows);
    std::vector<double> sum(std::size_t(K * K), 0.0);
    std::vector<std::int64_t> n(std::size_t(K * K), 0);
    for (std::int64_t i = begin; i < end; ++i) {
        const std::int64_t a = labels[std::size_t(i)];
        GS_CHECK(a >= 0 && a < K, "class_stiffness: label ", a, " of example ", i, " outside [0, ", K, ")");
        for (std::int64_t j = begin; j < end; ++j) {
            if (i == j) continue;
            const std::size_t cell = std::size_t(a * K + labels[std::size_t(j)]);
            sum[cell] += s(i, j);
            ++n[cell];
        }
    }
    Matrix c(K, K);
    for (std::size_t k = 0; k < c.v.size(); ++k) c.v[k] = n[k] ? sum[k] / double(n[k]) : kNaN;
    return c;
}

ClassMeans class_means(const Matrix& c) {
    double ws = 0, bs = 0;
    std::int64_t wn = 0, bn = 0;
    for (std::int64_t a = 0; a < c.rows; ++a)
        for (std::int64_t b = 0; b < c.cols; ++b) {
            if (std::isnan(c(a, b))) continue;
            if (a == b) ws += c(a, b), ++wn;
            else bs += c(a, b), ++bn;
        }
    return {wn ? ws / double(wn) : kNaN, bn ? bs / double(bn) : kNaN};
}

SuperclassSplit superclass_split(const Matrix& c, const std::vector<std::int64_t>& f2c) {
    GS_CHECK(c.rows == c.cols && std::int64_t(f2c.size()) == c.rows, "superclass_split: ", c.rows, "x", c.cols,
             " class matrix with ", f2c.size(), " fine-to-coarse entries");
    double ss = 0, os = 0;
    std::int64_t sn = 0, on = 0;
    for (std::int64_t a = 0; a < c.rows; ++a)
        for (std::int64_t b = 0; b < c.cols; ++b) {
            const std::int64_t ca = f2c[std::size_t(a)], cb = f2c[std::size_t(b)];
            if (a == b || ca < 0 || cb < 0 || std::isnan(c(a, b))) continue;
            if (ca == cb) ss += c(a, b), ++sn;
            else os += c(a, b), ++on;
        }
    return {sn ? ss / double(sn) : kNaN, on ? os / double(on) : kNaN};
}

std::optional<std::vector<std::int64_t>> fine_to_coarse(const std::vector<std::int64_t>& fine,
                                                        const std::vector<std::int64_t>& coarse, std::int64_t K) {
    GS_CHECK(fine.size() == coarse.size(), "fine_to_coarse: ", fine.size(), " fine labels and ", coarse.size(), " coarse ones");
    std::vector<std::int64_t> map(std::size_t(K), -1);
    for (std::size_t i = 0; i < fine.size(); ++i) {
        GS_CHECK(fine[i] >= 0 && fine[i] < K, "fine_to_coarse: label ", fine[i], " of example ", i, " outside [0, ", K, ")");
        std::int64_t& m = map[std::size_t(fine[i])];
        if (m >= 0 && m != coarse[i]) return std::nullopt;
        m = coarse[i];
    }
    return map;
}

const char* distance_name(Distance d) { return d == Distance::euclidean ? "euclidean" : "cosine"; }

Matrix pairwise_distances(const Tensor& x, Distance d) {
    GS_CHECK(x.dim() == 2, "pairwise_distances: x must be (N, D), got ", x.describe());
    const std::int64_t N = x.size(0), D = x.size(1);
    const std::vector<double> v = x.contiguous().to(DType::f64).to_vector<double>();
    std::vector<double> sq(std::size_t(N), 0.0);
    for (std::int64_t i = 0; i < N; ++i)
        for (std::int64_t k = 0; k < D; ++k) sq[std::size_t(i)] += v[std::size_t(i * D + k)] * v[std::size_t(i * D + k)];
    Matrix out(N, N);
#pragma omp parallel for if (N * N * D >= (1 << 20))
    for (std::int64_t i = 0; i < N; ++i)
        for (std::int64_t j = 0; j < N; ++j) {
            double dot = 0, diff = 0;
            for (std::int64_t k = 0; k < D; ++k) {
                const double a = v[std::size_t(i * D + k)], b = v[std::size_t(j * D + k)];
                dot += a * b;
                diff += (a - b) * (a - b);  // direct, not |a|^2+|b|^2-2ab: no cancellation for near points
            }
            if (d == Distance::euclidean) out(i, j) = std::sqrt(diff);
            else {
                const double n = std::sqrt(sq[std::size_t(i)] * sq[std::size_t(j)]);
                out(i, j) = n > 0 ? 1.0 - std::clamp(dot / n, -1.0, 1.0) : 1.0;
            }
        }
    return out;
}

DistanceCurve stiffness_vs_distance(const Matrix& s, const Matrix& dist, std::int64_t bins) {
    GS_CHECK(bins >= 1, "stiffness_vs_distance: bins must be at least 1, got ", bins);
    GS_CHECK(s.rows == s.cols && dist.rows == s.rows && dist.cols == s.cols, "stiffness_vs_distance: stiffness ", s.rows,
             "x", s.cols, " vs distances ", dist.rows, "x", dist.cols);
    const std::int64_t N = s.rows;
    double hi = 0;
    for (std::int64_t i = 0; i < N; ++i)
        for (std::int64_t j = i + 1; j < N; ++j) hi = std::max(hi, dist(i, j));
    DistanceCurve c;
    c.edges.resize(std::size_t(bins + 1));
    for (std::int64_t b = 0; b <= bins; ++b) c.edges[std::size_t(b)] = hi * double(b) / double(bins);
    std::vector<double> sum(std::size_t(bins), 0.0);
    c.count.assign(std::size_t(bins), 0);
    for (std::int64_t i = 0; i < N; ++i)
        for (std::int64_t j = i + 1; j < N; ++j) {
            std::int64_t b = hi > 0 ? std::int64_t(dist(i, j) / hi * double(bins)) : 0;
            b = std::clamp<std::int64_t>(b, 0, bins - 1);  // the maximum lands in the last (closed) bin
            sum[std::size_t(b)] += s(i, j);
            ++c.count[std::size_t(b)];
        }
    c.mean.resize(std::size_t(bins));
    for (std::size_t b = 0; b < sum.size(); ++b) c.mean[b] = c.count[b] ? sum[b] / double(c.count[b]) : kNaN;
    return c;
}

double first_bin_mean(const DistanceCurve& curve, std::int64_t min_count) {
    for (std::size_t b = 0; b < curve.mean.size(); ++b)
        if (curve.count[b] >= std::max<std::int64_t>(min_count, 1)) return curve.mean[b];
    return kNaN;
}

std::optional<double> critical_length(const DistanceCurve& curve, double threshold, std::int64_t min_count) {
    bool have_prev = false;
    double prev_x = 0, prev_y = 0;
    for (std::size_t b = 0; b < curve.mean.size(); ++b) {
        if (curve.count[b] < std::max<std::int64_t>(min_count, 1)) continue;
        const double x = curve.center(b), y = curve.mean[b];
        if (y <= threshold) {
            if (!have_prev) return x;
            return prev_x + (x - prev_x) * (prev_y - threshold) / (prev_y - y);  // prev_y > threshold >= y
        }
        have_prev = true;
        prev_x = x;
        prev_y = y;
    }
    return std::nullopt;
}

namespace {

// Where the model's parameters are: the probes go there, and the results come back to the CPU.
Device model_device(nn::Module& model) {
    const auto params = model.parameters();
    return params.empty() ? Device::cpu() : params.front().value().device();
}

// One collector pass over `x` (n, ...): the Gram (n, n), squared norms, losses, predictions.
GramResult gram_pass(nn::Module& model, const Tensor& x, const Tensor& labels) {
    const Device device = model_device(model), cpu = Device::cpu();
    GramResult r;
    nn::PerExampleOptions opt;
    opt.parameter_grads = false;  // no summed gradient: faster, and the caller's .grad stays as it was
    nn::PerExampleCollector pe(model, opt);
    const autograd::Variable logits = model(autograd::Variable(x.to(device)));
    const autograd::Variable losses = autograd::cross_entropy(logits, labels.to(device));  // (B)
    autograd::sum(losses).backward();  // the SUM: row i is example i's own gradient
    r.gram = Matrix::from_tensor(pe.gram().to(cpu));
    r.squared_norms = pe.squared_norms().to(cpu).to(DType::f64).to_vector<double>();
    r.losses = losses.value().to(cpu).to(DType::f64).to_vector<double>();
    r.predictions = kernels::argmax(logits.value(), 1).to(cpu).to_vector<std::int64_t>();
    return r;
}

// Rows [a0, a0 + na) then [b0, b0 + nb) of t along dim 0, as one contiguous tensor.
Tensor two_ranges(const Tensor& t, std::int64_t a0, std::int64_t na, std::int64_t b0, std::int64_t nb) {
    Shape shape = t.shape();
    shape[0] = na + nb;
    Tensor out = Tensor::empty(shape, t.dtype());
    out.narrow(0, 0, na).copy_(t.narrow(0, a0, na));
    if (nb > 0) out.narrow(0, na, nb).copy_(t.narrow(0, b0, nb));
    return out;
}

}  // namespace

GramResult measure_gram(nn::Module& model, const Tensor& x, const Tensor& labels, std::int64_t chunk) {
    const bool was_training = model.is_training();
    model.eval();
    const std::int64_t B = x.size(0);
    GramResult r;
    if (chunk <= 0 || chunk >= B) {
        r = gram_pass(model, x, labels);
    } else {
        const std::int64_t chunks = (B + chunk - 1) / chunk;
        auto begin = [&](std::int64_t I) { return I * chunk; };
        auto size = [&](std::int64_t I) { return std::min(chunk, B - I * chunk); };
        r.gram = Matrix(B, B);
        r.squared_norms.assign(std::size_t(B), 0.0);
        r.losses.assign(std::size_t(B), 0.0);
        r.predictions.assign(std::size_t(B), 0);
        std::vector<bool> diagonal_done(std::size_t(chunks), false);
        // Copies block (pass rows [p0, p0 + n) x pass cols [q0, q0 + m)) to G rows from i0, cols from j0.
        auto put = [&](const Matrix& g, std::int64_t p0, std::int64_t n, std::int64_t q0, std::int64_t m, std::int64_t i0,
                       std::int64_t j0) {
            for (std::int64_t a = 0; a < n; ++a)
                for (std::int64_t b = 0; b < m; ++b) r.gram(i0 + a, j0 + b) = g(p0 + a, q0 + b);
        };
        // chunks >= 2 here, so every chunk is in some pair; its diagonal block comes from the first.
        for (std::int64_t I = 0; I < chunks; ++I)
            for (std::int64_t J = I + 1; J < chunks; ++J) {
                const std::int64_t nI = size(I), nJ = size(J);
                GramResult p = gram_pass(model, two_ranges(x, begin(I), nI, begin(J), nJ), two_ranges(labels, begin(I), nI, begin(J), nJ));
                put(p.gram, 0, nI, nI, nJ, begin(I), begin(J));
                put(p.gram, nI, nJ, 0, nI, begin(J), begin(I));
                for (const auto& [K, off] : {std::pair{I, std::int64_t(0)}, std::pair{J, nI}}) {
                    if (diagonal_done[std::size_t(K)]) continue;
                    diagonal_done[std::size_t(K)] = true;
                    put(p.gram, off, size(K), off, size(K), begin(K), begin(K));
                    for (std::int64_t a = 0; a < size(K); ++a) {
                        const std::size_t dst = std::size_t(begin(K) + a), src = std::size_t(off + a);
                        r.squared_norms[dst] = p.squared_norms[src];
                        r.losses[dst] = p.losses[src];
                        r.predictions[dst] = p.predictions[src];
                    }
                }
            }
    }
    model.train(was_training);
    return r;
}

}  // namespace gs::exp::stiffness
