// Theorem 1's construction (papers.md §1.9) in O(N log N) with a prefix-sum recurrence, and a
// plain O(M N) evaluation of the resulting network.
#include "experiments/zhang/expressivity.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <vector>

#include "tensor/random.h"

namespace gs::exp::zhang {
namespace {

using i64 = std::int64_t;

// z_i = <a, x_i>, summed over d in increasing order. fit and evaluate share this one function so
// that a training point projects to bitwise the same z in both.
std::vector<double> project(const double* a, const double* x, i64 N, i64 D) {
    std::vector<double> z(static_cast<std::size_t>(N));
#pragma omp parallel for if (N * D >= 32768) schedule(static)
    for (i64 i = 0; i < N; ++i) {
        double s = 0;
        for (i64 d = 0; d < D; ++d) s += a[d] * x[i * D + d];
        z[std::size_t(i)] = s;
    }
    return z;
}

bool rows_equal(const double* x, i64 D, i64 i, i64 j) {
    return std::equal(x + i * D, x + (i + 1) * D, x + j * D);
}

Tensor random_direction(i64 D, Generator& gen) {
    Tensor a = normal({D}, gen, 0.0, 1.0, DType::f64);
    double* p = a.data<double>();
    double norm = 0;
    for (i64 d = 0; d < D; ++d) norm += p[d] * p[d];
    norm = std::sqrt(norm);
    // A unit direction keeps z on the scale of the data (b_1's offset below is relative to it).
    if (norm > 0)
        for (i64 d = 0; d < D; ++d) p[d] /= norm;
    return a;
}

// Sorted order of z and thresholds b interleaving it, or the first pair (in sorted order) whose
// interleaving fails in floating point: equal projections, or neighbours so close that their
// midpoint rounds onto one of them.
struct Interleaving {
    std::vector<i64> order;  // order[k] = row of the k-th smallest projection
    std::vector<double> b;
    i64 bad = -1;  // k such that rows order[k-1] and order[k] could not be separated
};

Interleaving interleave(const std::vector<double>& z) {
    const i64 N = i64(z.size());
    Interleaving r;
    r.order.resize(std::size_t(N));
    std::iota(r.order.begin(), r.order.end(), i64(0));
    // Ties broken by row index, so the order (and any error message) is deterministic.
    std::sort(r.order.begin(), r.order.end(), [&](i64 i, i64 j) {
        return z[std::size_t(i)] < z[std::size_t(j)] || (z[std::size_t(i)] == z[std::size_t(j)] && i < j);
    });
    auto zs = [&](i64 k) { return z[std::size_t(r.order[std::size_t(k)])]; };
    r.b.resize(std::size_t(N));
    // b_1 sits one mean gap below z_1 (papers.md suggests z_1 - 1; a scale-free offset keeps w_1
    // = y_1 / (z_1 - b_1) on the scale of the other weights). N = 1 has no gaps: offset 1.
    const double mean_gap = N > 1 ? (zs(N - 1) - zs(0)) / double(N - 1) : 1.0;
    r.b[0] = zs(0) - (mean_gap > 0 ? mean_gap : 1.0);
    if (!(r.b[0] < zs(0))) r.bad = 0;
    for (i64 k = 1; k < N && r.bad < 0; ++k) {
        const double lo = zs(k - 1), hi = zs(k);
        const double mid = lo + (hi - lo) / 2;
        if (!(lo < mid && mid < hi)) r.bad = k;
        r.b[std::size_t(k)] = mid;
    }
    return r;
}

}  // namespace

ExpressivityFit fit_two_layer_relu(const Tensor& x_in, const Tensor& y_in, const ExpressivityOptions& options) {
    const char* op = "fit_two_layer_relu";
    GS_CHECK(x_in.defined() && y_in.defined(), op, ": x or y is undefined");
    GS_CHECK(x_in.dim() == 2 && x_in.size(0) >= 1 && is_floating(x_in.dtype()), op,
             ": x must be a float (N, D) matrix with N >= 1, got ", x_in.describe());
    const i64 N = x_in.size(0), D = x_in.size(1);
    GS_CHECK(y_in.dim() == 1 && y_in.size(0) == N, op, ": y must be (N) with N = ", N, " (x is ", x_in.describe(),
             "), got ", y_in.describe());
    const Tensor x = x_in.to(DType::f64).contiguous();
    const Tensor y = y_in.to(DType::f64).contiguous();
    const double* xp = x.data<double>();
    const double* yp = y.data<double>();
    for (i64 i = 0; i < N; ++i) GS_CHECK(std::isfinite(yp[i]), op, ": target ", i, " is not finite (", yp[i], ")");
    for (i64 k = 0; k < N * D; ++k)
        GS_CHECK(std::isfinite(xp[k]), op, ": x[", k / D, ", ", k % D, "] is not finite (", xp[k], ")");

    const bool given = options.direction.defined();
    if (given)
        GS_CHECK(options.direction.dim() == 1 && options.direction.size(0) == D &&
                     is_floating(options.direction.dtype()),
                 op, ": direction must be a float (D) vector with D = ", D, ", got ", options.direction.describe());
    GS_CHECK(given || options.max_directions >= 1, op, ": max_directions must be >= 1, got ", options.max_directions);

    Generator gen(options.seed);
    ExpressivityFit fit;
    Tensor a;
    std::vector<double> z;
    Interleaving il;
    for (int attempt = 1;; ++attempt) {
        a = given ? options.direction.to(DType::f64).contiguous().clone() : random_direction(D, gen);
        z = project(a.data<double>(), xp, N, D);
        il = interleave(z);
        fit.directions_tried = attempt;
        if (il.bad < 0) break;
        const i64 k = il.bad;
        const i64 i = il.order[std::size_t(k > 0 ? k - 1 : 0)], j = il.order[std::size_t(k)];
        const i64 lo = std::min(i, j), hi = std::max(i, j);
        GS_CHECK(k == 0 || !rows_equal(xp, D, lo, hi), op, ": rows ", lo, " and ", hi,
                 " of x are identical; Theorem 1 needs N distinct points (remove duplicates)");
        GS_CHECK(k > 0, op, ": the projection ", z[std::size_t(j)], " of row ", j,
                 " has no representable threshold below it");
        GS_CHECK(!given, op, ": the projections of rows ", lo, " and ", hi, " onto the given direction ",
                 z[std::size_t(i)] == z[std::size_t(j)] ? "coincide" : "are too close to separate", " (z = ",
                 z[std::size_t(i)], " and ", z[std::size_t(j)], ")");
        GS_CHECK(attempt < options.max_directions, op, ": no random direction out of ", options.max_directions,
                 " separated every projection (last failure: rows ", lo, " and ", hi, ", z = ", z[std::size_t(i)],
                 " and ", z[std::size_t(j)], "); points that close need a larger max_directions or rescaling");
    }

    // In sorted order (z_1 < ... < z_N, b_1 < z_1 < b_2 < z_2 < ... < b_N < z_N), the network's
    // outputs on the sample are A w with A_ij = max(z_i - b_j, 0). For j > i, b_j > z_{j-1} >= z_i
    // so A_ij = 0; for j <= i, b_j < z_j <= z_i so A_ij = z_i - b_j > 0. A is lower triangular with
    // the positive diagonal z_i - b_i: invertible, with those diagonal entries as eigenvalues
    // (Lemma 1's bound, min_i (z_i - b_i)).
    //
    // Forward substitution without forming A: let f_i(z) = sum_{j<=i} w_j max(z - b_j, 0) and S_i =
    // sum_{j<=i} w_j. On z >= b_i every unit j <= i is active, so f_i is linear there with slope
    // S_i. Hence f_{i-1}(z_i) = f_{i-1}(z_{i-1}) + S_{i-1} (z_i - z_{i-1}) = y_{i-1} + S_{i-1} (z_i - z_{i-1}),
    // and f_i(z_i) = y_i gives w_i = (y_i - f_{i-1}(z_i)) / (z_i - b_i). This uses only neighbour
    // differences z_i - z_{i-1} (never z_i * S - sum w_j b_j, which would cancel catastrophically
    // once the slopes grow), and costs O(N).
    std::vector<double> w(static_cast<std::size_t>(N));
    double slope = 0, prev_y = 0, prev_z = 0, min_diag = std::numeric_limits<double>::infinity();
    double min_gap = std::numeric_limits<double>::infinity();
    for (i64 k = 0; k < N; ++k) {
        const i64 row = il.order[std::size_t(k)];
        const double zk = z[std::size_t(row)], yk = yp[row], bk = il.b[std::size_t(k)];
        const double pred = k == 0 ? 0.0 : prev_y + slope * (zk - prev_z);
        const double diag = zk - bk;
        w[std::size_t(k)] = (yk - pred) / diag;
        slope += w[std::size_t(k)];
        min_diag = std::min(min_diag, diag);
        if (k > 0) min_gap = std::min(min_gap, zk - prev_z);
        prev_y = yk;
        prev_z = zk;
    }
    fit.net.a = a;
    fit.net.b = Tensor::from_vector(il.b, {N});
    fit.net.w = Tensor::from_vector(w, {N});
    fit.lemma1_min_eigenvalue = min_diag;
    fit.min_projection_gap = min_gap;
    return fit;
}

namespace {

// Checks net and x; returns z = <a, x_m> (M) with b and w as contiguous f64.
struct Prepared {
    std::vector<double> z;
    Tensor b, w;
};

Prepared prepare(const char* op, const TwoLayerReluNet& net, const Tensor& x_in) {
    GS_CHECK(net.a.defined() && net.b.defined() && net.w.defined() && net.a.dim() == 1 && net.b.dim() == 1 &&
                 net.b.shape() == net.w.shape(),
             op, ": malformed network (a, b, w must be (D), (N), (N))");
    const i64 D = net.a.size(0);
    GS_CHECK(x_in.defined() && x_in.dim() == 2 && x_in.size(1) == D && is_floating(x_in.dtype()), op,
             ": x must be a float (M, D) matrix with D = ", D, ", got ", x_in.describe());
    const Tensor x = x_in.to(DType::f64).contiguous();
    const Tensor a = net.a.to(DType::f64).contiguous();
    return {project(a.data<double>(), x.data<double>(), x.size(0), D), net.b.to(DType::f64).contiguous(),
            net.w.to(DType::f64).contiguous()};
}

// out_m = sum_j w_j relu(z_m - b_j) with every operation in Acc (|w_j| when abs_w), each point
// summed over j in increasing order - the stored order, ascending b for a fitted net. NOTE: that
// order matters. Its running sums are the partial networks f_k(z_m), which stay moderate, while the
// terms (and sums over other subsets of units, e.g. every 8th unit) reach slope x range, ~1e9 at
// N = 50,000: interleaved partial sums made the f64 residual ~3000x larger there. So the loop
// vectorizes across 8 points instead of across units; each point's sum order is fixed, whatever
// the thread count.
template <class Acc>
void relu_sums(const std::vector<double>& z, const double* bp, const double* wp, i64 N, bool abs_w, double* o) {
    constexpr i64 L = 8;
    const i64 M = i64(z.size());
    const i64 blocks = (M + L - 1) / L;
#pragma omp parallel for if (M * N >= 32768) schedule(static)
    for (i64 blk = 0; blk < blocks; ++blk) {
        const i64 m0 = blk * L, mb = std::min(L, M - m0);
        Acc zl[L] = {}, s[L] = {};  // points past M (a short last block) compute unused sums of z = 0
        for (i64 l = 0; l < mb; ++l) zl[l] = z[std::size_t(m0 + l)];
        for (i64 j = 0; j < N; ++j) {
            const Acc bj = bp[j], wj = abs_w ? Acc(std::abs(wp[j])) : Acc(wp[j]);
            for (i64 l = 0; l < L; ++l) {
                const Acc t = zl[l] - bj;
                s[l] += wj * (t < Acc(0) ? Acc(0) : t);  // relu, NaN-preserving
            }
        }
        for (i64 l = 0; l < mb; ++l) o[m0 + l] = double(s[l]);
    }
}

}  // namespace

Tensor evaluate_two_layer_relu(const TwoLayerReluNet& net, const Tensor& x, Summation summation) {
    const Prepared p = prepare("evaluate_two_layer_relu", net, x);
    const i64 M = i64(p.z.size()), N = p.b.size(0);
    Tensor out = Tensor::empty({M}, DType::f64);
    if (summation == Summation::f64)
        relu_sums<double>(p.z, p.b.data<double>(), p.w.data<double>(), N, false, out.data<double>());
    else
        relu_sums<long double>(p.z, p.b.data<double>(), p.w.data<double>(), N, false, out.data<double>());
    return out;
}

double output_condition(const TwoLayerReluNet& net, const Tensor& x) {
    const Prepared p = prepare("output_condition", net, x);
    std::vector<double> c(p.z.size());
    relu_sums<double>(p.z, p.b.data<double>(), p.w.data<double>(), p.b.size(0), true, c.data());
    double m = 0;
    for (double v : c) m = std::max(m, v);
    return m;
}

double max_abs_residual(const Tensor& pred, const Tensor& y) {
    GS_CHECK(pred.defined() && y.defined() && pred.numel() == y.numel(), "max_abs_residual: sizes differ (",
             pred.defined() ? pred.describe() : "undefined", " vs ", y.defined() ? y.describe() : "undefined", ")");
    const auto p = pred.to_vector<double>(), t = y.to_vector<double>();
    double m = 0;
    for (std::size_t i = 0; i < p.size(); ++i) {
        const double d = std::abs(p[i] - t[i]);
        if (std::isnan(d)) return std::numeric_limits<double>::infinity();
        m = std::max(m, d);
    }
    return m;
}

}  // namespace gs::exp::zhang
