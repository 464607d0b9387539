// experiments/stiffness: cosine and sign stiffness from a Gram matrix (identical examples give 1,
// negated gradients -1, zero gradients 0), class matrices and block means on hand-made Grams,
// distance binning, the critical length on synthetic curves, the Gram route against stiffness
// computed from materialized per-example gradients of a small MLP, the super-class split, and
// chunked probe Grams against the one-pass Gram. Whole runs: test_stiffness_experiment.cpp.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/elementwise.h"
#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "experiments/stiffness/experiment.h"
#include "experiments/stiffness/stiffness.h"
#include "nn/layers.h"
#include "nn/models.h"
#include "nn/per_example.h"
#include "test_util.h"

using namespace gs;
using namespace gs::exp::stiffness;
using i64 = std::int64_t;

namespace {

// Gram of explicit gradient rows g (B x P).
Matrix gram_of(const std::vector<std::vector<double>>& g) {
    const i64 B = i64(g.size());
    Matrix m(B, B);
    for (i64 i = 0; i < B; ++i)
        for (i64 j = 0; j < B; ++j) {
            double d = 0;
            for (std::size_t k = 0; k < g[0].size(); ++k) d += g[std::size_t(i)][k] * g[std::size_t(j)][k];
            m(i, j) = d;
        }
    return m;
}

}  // namespace

TEST_CASE("stiffness of identical examples is 1 and of negated gradients is -1") {
    // Rows 0 and 1 equal, row 2 = -row 0 scaled (scale must not matter), row 3 zero, row 4 orthogonal.
    const Matrix g = gram_of({{1, 2, 3}, {1, 2, 3}, {-2, -4, -6}, {0, 0, 0}, {3, 0, -1}});
    const PairStiffness s = pair_stiffness(g);
    CHECK(s.cosine(0, 1) == doctest::Approx(1.0));
    CHECK(s.sign(0, 1) == 1.0);
    CHECK(s.cosine(0, 2) == doctest::Approx(-1.0));
    CHECK(s.sign(2, 1) == -1.0);
    CHECK(s.cosine(0, 0) == doctest::Approx(1.0));
    // Zero gradient: cosine 0 by convention, sign(0) = 0, and it is counted.
    CHECK(s.cosine(3, 0) == 0.0);
    CHECK(s.sign(3, 0) == 0.0);
    CHECK(s.cosine(3, 3) == 0.0);
    CHECK(s.zero_gradients == 1);
    CHECK(s.sign(0, 4) == 0.0);  // exactly orthogonal: sign(0) = 0
    CHECK(s.cosine(0, 4) == 0.0);
}

TEST_CASE("stiffness of an MSE example with negated target is -1") {
    // A linear model with MSE loss: example 2 is example 1 with the target negated around the
    // prediction, so its gradient is exactly the negation; example 3 is a copy of example 1.
    Generator gen(5);
    auto model = nn::mlp(4, {3}, 2, gen, DType::f64);
    Tensor x1 = test::randn64({1, 4}, 11);
    Tensor x = Tensor::empty({3, 4}, DType::f64);
    for (i64 i = 0; i < 3; ++i) x.narrow(0, i, 1).copy_(x1);
    Tensor pred;
    {
        autograd::NoGradGuard ng;
        pred = model->forward(autograd::Variable(x1)).value();
    }
    const std::vector<double> p = pred.to_vector<double>();
    const Tensor target = Tensor::from_vector<double>({p[0] + 1.0, p[1] - 0.5, p[0] - 1.0, p[1] + 0.5, p[0] + 1.0, p[1] - 0.5},
                                                      {3, 2});
    nn::PerExampleCollector pe(*model);
    const autograd::Variable out = model->forward(autograd::Variable(x));
    const autograd::Variable diff = autograd::sub(out, autograd::Variable(target));
    autograd::sum(autograd::mul(diff, diff)).backward();  // sum of per-example squared errors
    const PairStiffness s = pair_stiffness(Matrix::from_tensor(pe.gram()));
    CHECK(s.cosine(0, 1) == doctest::Approx(-1.0).epsilon(1e-12));  // f64: exact up to rounding
    CHECK(s.sign(0, 1) == -1.0);
    CHECK(s.cosine(0, 2) == doctest::Approx(1.0).epsilon(1e-12));
    CHECK(s.sign(0, 2) == 1.0);
    model->zero_grad();
}

TEST_CASE("class stiffness and block means on a hand-made matrix") {
    // 4 examples, labels 0 0 1 1; s(i, j) = 10 i + j off the diagonal, 99 on it (must be ignored).
    Matrix s(4, 4);
    for (i64 i = 0; i < 4; ++i)
        for (i64 j = 0; j < 4; ++j) s(i, j) = i == j ? 99.0 : 10.0 * double(i) + double(j);
    const Matrix c = class_stiffness(s, {0, 0, 1, 1}, 2, 0, 4);
    CHECK(c(0, 0) == doctest::Approx((1.0 + 10.0) / 2));   // pairs (0,1), (1,0)
    CHECK(c(1, 1) == doctest::Approx((23.0 + 32.0) / 2));  // (2,3), (3,2)
    CHECK(c(0, 1) == doctest::Approx((2.0 + 3.0 + 12.0 + 13.0) / 4));
    CHECK(c(1, 0) == doctest::Approx((20.0 + 21.0 + 30.0 + 31.0) / 4));
    const ClassMeans m = class_means(c);
    CHECK(m.within == doctest::Approx((5.5 + 27.5) / 2));
    CHECK(m.between == doctest::Approx((7.5 + 25.5) / 2));
    // A sub-range (examples 1..3): class 0 has one example, so its diagonal cell has no pair.
    const Matrix sub = class_stiffness(s, {0, 0, 1, 1}, 2, 1, 4);
    CHECK(std::isnan(sub(0, 0)));
    CHECK(sub(0, 1) == doctest::Approx((12.0 + 13.0) / 2));
    // Blocks: the train-train block excludes i == j, the train-val block has none to exclude.
    CHECK(block_mean(s, 0, 2, 0, 2) == doctest::Approx(5.5));
    CHECK(block_mean(s, 0, 2, 2, 4) == doctest::Approx((2.0 + 3.0 + 12.0 + 13.0) / 4));
    CHECK(std::isnan(block_mean(s, 0, 1, 0, 1)));
    CHECK_THROWS_WITH_AS(class_stiffness(s, {0, 0, 2, 1}, 2, 0, 4), doctest::Contains("label 2 of example 2"), gs::Error);
}

TEST_CASE("stiffness vs distance bins pairs by distance") {
    // Points on a line at 0, 1, 3: pair distances 1 (0-1), 3 (0-2), 2 (1-2); 3 bins over [0, 3].
    const Tensor x = Tensor::from_vector<double>({0, 1, 3}, {3, 1});
    const Matrix d = pairwise_distances(x, Distance::euclidean);
    CHECK(d(0, 2) == doctest::Approx(3.0));
    Matrix s(3, 3);
    s(0, 1) = s(1, 0) = 0.9;
    s(1, 2) = s(2, 1) = 0.5;
    s(0, 2) = s(2, 0) = -0.1;
    const DistanceCurve c = stiffness_vs_distance(s, d, 3);
    REQUIRE(c.mean.size() == 3);
    CHECK(c.edges.back() == doctest::Approx(3.0));
    CHECK(c.count == std::vector<i64>{0, 1, 2});  // distance 1 and 2 both land on a left edge
    CHECK(std::isnan(c.mean[0]));
    CHECK(c.mean[1] == doctest::Approx(0.9));
    CHECK(c.mean[2] == doctest::Approx((0.5 - 0.1) / 2));  // 3 is the closed right end of the last bin
    // Cosine distance: parallel vectors 0, opposite 2, zero vector 1.
    const Matrix cd = pairwise_distances(Tensor::from_vector<double>({1, 0, 2, 0, -1, 0, 0, 0}, {4, 2}), Distance::cosine);
    CHECK(cd(0, 1) == doctest::Approx(0.0));
    CHECK(cd(0, 2) == doctest::Approx(2.0));
    CHECK(cd(0, 3) == doctest::Approx(1.0));
}

TEST_CASE("critical length on synthetic curves") {
    DistanceCurve c;
    c.edges = {0, 1, 2, 3, 4};  // centers 0.5, 1.5, 2.5, 3.5
    c.mean = {0.8, 0.4, -0.2, -0.3};
    c.count = {5, 5, 5, 5};
    // Crosses 0 between 1.5 (0.4) and 2.5 (-0.2): 1.5 + 0.4 / 0.6.
    REQUIRE(critical_length(c, 0.0).has_value());
    CHECK(*critical_length(c, 0.0) == doctest::Approx(1.5 + 0.4 / 0.6));
    // Half-decay: 0.4 is reached exactly at the second center.
    CHECK(first_bin_mean(c) == doctest::Approx(0.8));
    CHECK(*critical_length(c, 0.5 * first_bin_mean(c)) == doctest::Approx(1.5));
    // Never falls to -0.5: no xi.
    CHECK_FALSE(critical_length(c, -0.5).has_value());
    // Sparse bins are skipped: with bin 1 too thin, interpolate between 0.5 and 2.5.
    c.count = {5, 1, 5, 5};
    CHECK(*critical_length(c, 0.0, 2) == doctest::Approx(0.5 + 2.0 * 0.8 / 1.0));
    // Already at or below the threshold in the first bin: its center.
    CHECK(*critical_length(c, 0.9) == doctest::Approx(0.5));
}

TEST_CASE("Gram cosine stiffness equals the one from materialized per-example gradients") {
    Generator gen(3);
    auto model = nn::mlp(6, {5, 4}, 3, gen, DType::f64);
    const Tensor x = test::randn64({7, 6}, 21);
    const Tensor y = Tensor::from_vector<std::int64_t>({0, 1, 2, 0, 1, 2, 2}, {7});
    // A gradient the caller holds (a training step in progress) survives the measurement.
    autograd::Variable w0 = model->parameters().front();
    w0.set_grad(Tensor::full(w0.shape(), 0.25, DType::f64));
    const GramResult r = measure_gram(*model, x, y);
    CHECK(w0.grad().to_vector<double>() == std::vector<double>(std::size_t(w0.numel()), 0.25));
    for (const auto& v : model->parameters()) CHECK(v.requires_grad());
    model->zero_grad();
    const PairStiffness from_gram = pair_stiffness(r.gram);

    nn::PerExampleCollector pe(*model);
    autograd::sum(autograd::cross_entropy(model->forward(autograd::Variable(x)), y)).backward();
    const Tensor g = pe.gradients({}, 0, -1);  // (B, P)
    const i64 B = g.size(0), P = g.size(1);
    const std::vector<double> gv = g.to_vector<double>();
    std::vector<std::vector<double>> rows(static_cast<std::size_t>(B), std::vector<double>(static_cast<std::size_t>(P)));
    for (i64 i = 0; i < B; ++i)
        for (i64 k = 0; k < P; ++k) rows[std::size_t(i)][std::size_t(k)] = gv[std::size_t(i * P + k)];
    model->zero_grad();
    const Matrix direct_gram = gram_of(rows);
    const PairStiffness direct = pair_stiffness(direct_gram);
    for (i64 i = 0; i < B; ++i) {
        CHECK(r.squared_norms[std::size_t(i)] == doctest::Approx(direct_gram(i, i)).epsilon(1e-10));
        for (i64 j = 0; j < B; ++j) {
            CHECK(from_gram.cosine(i, j) == doctest::Approx(direct.cosine(i, j)).epsilon(1e-10));  // f64 rounding only
            CHECK(from_gram.sign(i, j) == direct.sign(i, j));
        }
    }
}

TEST_CASE("super-class split of between-class cells and the fine-to-coarse map") {
    // 4 fine classes: 0 and 1 in super-class 0, 2 in super-class 1, 3 unknown (-1: skipped).
    Matrix c(4, 4);
    for (i64 a = 0; a < 4; ++a)
        for (i64 b = 0; b < 4; ++b) c(a, b) = a == b ? 99.0 : 10.0 * double(a) + double(b);
    c(0, 2) = std::nan("");  // a cell without pairs is skipped
    const SuperclassSplit s = superclass_split(c, {0, 0, 1, -1});
    CHECK(s.same == doctest::Approx((1.0 + 10.0) / 2));           // (0,1), (1,0)
    CHECK(s.other == doctest::Approx((12.0 + 20.0 + 21.0) / 3));  // (1,2), (2,0), (2,1); (0,2) is NaN
    CHECK(std::isnan(superclass_split(c, {0, 1, 2, 3}).same));
    CHECK_THROWS_WITH_AS(superclass_split(c, {0, 0}), doctest::Contains("2 fine-to-coarse entries"), gs::Error);

    const auto m = fine_to_coarse({0, 1, 0, 2}, {5, 5, 5, 7}, 4);
    REQUIRE(m.has_value());
    CHECK(*m == std::vector<i64>{5, 5, 7, -1});
    CHECK_FALSE(fine_to_coarse({0, 0}, {1, 2}, 2).has_value());  // class 0 in two super-classes
}

TEST_CASE("the learning-rate sweep's direction words and folder names") {
    CHECK(direction({0.1, 0.2, 0.3}) == "increases");
    CHECK(direction({0.3, 0.2, -1.0}) == "decreases");
    CHECK(direction({0.3, 0.4, 0.1}) == "is not monotonic");
    CHECK(direction({0.3, 0.3}) == "is not monotonic");
    CHECK(direction({0.3, std::nan("")}) == "is undetermined");
    CHECK(direction({0.3}) == "is undetermined");
    CHECK(lr_dir_name(0.01) == "lr-0.01");
    CHECK(lr_dir_name(0.3) == "lr-0.3");
    CHECK(measurement_steps(8) == std::vector<i64>{0, 1, 2, 4, 8});
    CHECK(measurement_steps(6) == std::vector<i64>{0, 1, 2, 4, 6});
}

namespace {

// Gram, norms, losses and predictions of measure_gram with chunk `chunk` against one pass.
void check_chunked_gram(nn::Module& model, const Tensor& x, const Tensor& y, i64 chunk) {
    const GramResult one = measure_gram(model, x, y);
    const GramResult blocks = measure_gram(model, x, y, chunk);
    const i64 B = x.size(0);
    REQUIRE(blocks.gram.rows == B);
    double worst = 0;
    for (i64 i = 0; i < B; ++i)
        for (i64 j = 0; j < B; ++j)
            worst = std::max(worst, std::abs(blocks.gram(i, j) - one.gram(i, j)) / (1e-30 + std::abs(one.gram(i, j)) +
                                                                                  std::sqrt(one.gram(i, i) * one.gram(j, j))));
    // f64: the per-layer method (patches vs materialized) may differ with the pass size, so allow
    // rounding, relative to the entry's scale sqrt(G_ii G_jj).
    CHECK_MESSAGE(worst < 1e-12, "chunk ", chunk, ": worst relative difference ", worst);
    for (i64 i = 0; i < B; ++i) {
        CHECK(blocks.squared_norms[std::size_t(i)] == doctest::Approx(one.squared_norms[std::size_t(i)]).epsilon(1e-12));
        CHECK(blocks.losses[std::size_t(i)] == doctest::Approx(one.losses[std::size_t(i)]).epsilon(1e-12));
        CHECK(blocks.predictions[std::size_t(i)] == one.predictions[std::size_t(i)]);
    }
    CHECK(model.is_training());  // restored
}

}  // namespace

TEST_CASE("chunked probe Grams equal the one-pass Gram: MLP and a small CNN") {
    Generator gen(7);
    auto mlp = nn::mlp(6, {5, 4}, 3, gen, DType::f64);
    const Tensor x = test::randn64({7, 6}, 31);
    const Tensor y = Tensor::from_vector<std::int64_t>({0, 1, 2, 0, 1, 2, 2}, {7});
    for (i64 chunk : {1, 2, 3, 6}) check_chunked_gram(*mlp, x, y, chunk);  // 3: chunks of 3, 3 and 1

    nn::Conv2dOptions co;
    co.dtype = DType::f64;
    co.padding = 1;
    nn::Sequential cnn;
    cnn.push_back(std::make_shared<nn::Conv2d>(2, 3, 3, gen, co));
    cnn.push_back(std::make_shared<nn::ReLU>());
    cnn.push_back(std::make_shared<nn::Flatten>());
    cnn.push_back(std::make_shared<nn::Linear>(3 * 5 * 5, 4, gen, true, DType::f64));
    const Tensor xc = test::randn64({9, 2, 5, 5}, 41);
    const Tensor yc = Tensor::from_vector<std::int64_t>({0, 1, 2, 3, 0, 1, 2, 3, 0}, {9});
    for (i64 chunk : {2, 4}) check_chunked_gram(cnn, xc, yc, chunk);
}
