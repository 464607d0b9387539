// nn::Module and the layers: PyTorch naming of state dicts, load_state_dict errors, modes,
// BatchNorm running statistics, initialization bounds, and gradient checks of every layer's forward
// (with respect to the input and, for layers with parameters, the parameters) in f64.
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "autograd/reduce.h"
#include "autograd/variable.h"
#include "nn/init.h"
#include "nn/layers.h"
#include "nn/module.h"
#include "test_util.h"

using namespace gs;
using autograd::Variable;
using gs::test::check_grad;
using gs::test::randn64;

namespace {

std::vector<std::string> keys(const nn::NamedTensors& s) {
    std::vector<std::string> out;
    for (const auto& [n, t] : s) out.push_back(n);
    return out;
}

std::shared_ptr<nn::Sequential> small_net(DType dtype = DType::f32) {
    Generator gen(3);
    nn::Conv2dOptions co;
    co.dtype = dtype;
    nn::BatchNormOptions bo;
    bo.dtype = dtype;
    auto net = std::make_shared<nn::Sequential>();
    net->push_back(std::make_shared<nn::Conv2d>(2, 3, 3, gen, co))
        .push_back(std::make_shared<nn::BatchNorm2d>(3, bo))
        .push_back(std::make_shared<nn::ReLU>())
        .push_back(std::make_shared<nn::Flatten>())
        .push_back(std::make_shared<nn::Linear>(3 * 2 * 2, 4, gen, true, dtype));
    return net;
}

// Gradcheck of module.forward w.r.t. the input and every parameter of the module (f64): the
// lambda installs the checked tensors as the module's parameters before each forward.
void check_module_grad(const std::string& name, nn::Module& m, const Tensor& x, std::uint64_t seed = 11) {
    std::vector<Tensor> inputs{x};
    std::vector<std::string> names;
    for (const auto& [n, v] : m.named_parameters()) {
        names.push_back(n);
        inputs.push_back(randn64(v.shape(), seed++));
    }
    // Every parameter here is the module's own (no children), so names are undotted.
    check_grad(name, [&](const std::vector<Variable>& in) {
        for (std::size_t i = 0; i < names.size(); ++i) m.set_parameter(names[i], in[i + 1]);
        return m.forward(in[0]);
    }, inputs);
}

}  // namespace

TEST_CASE("nn: state_dict names match PyTorch for Sequential(Conv2d / BatchNorm2d / ReLU / Flatten / Linear)") {
    auto net = small_net();
    const std::vector<std::string> want{"0.weight",       "0.bias",          "1.weight",
                                        "1.bias",         "1.running_mean",  "1.running_var",
                                        "1.num_batches_tracked", "4.weight", "4.bias"};
    CHECK(keys(net->state_dict()) == want);
    std::vector<std::string> pnames;
    for (const auto& [n, v] : net->named_parameters()) pnames.push_back(n);
    CHECK(pnames == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias", "4.weight", "4.bias"});
    CHECK(keys(net->named_buffers()) ==
          std::vector<std::string>{"1.running_mean", "1.running_var", "1.num_batches_tracked"});
    CHECK(net->num_parameters() == 3 * 2 * 9 + 3 + 3 + 3 + 4 * 12 + 4);
    CHECK(net->parameters().size() == 6);
    const auto sd = net->state_dict();
    CHECK(sd[0].second.shape() == Shape{3, 2, 3, 3});
    CHECK(sd[6].second.dtype() == DType::i64);
    CHECK(sd[6].second.dim() == 0);
    CHECK(sd[7].second.shape() == Shape{4, 12});

    // Nested names: a Sequential inside a Sequential.
    auto outer = std::make_shared<nn::Sequential>();
    outer->push_back(std::make_shared<nn::ReLU>()).push_back(net);
    CHECK(keys(outer->state_dict())[0] == "1.0.weight");
    CHECK(keys(outer->state_dict())[5] == "1.1.running_var");

    // Forward runs end to end on (N, 2, 4, 4).
    Generator g(5);
    Variable y = net->forward(Variable(uniform({2, 2, 4, 4}, g, -1, 1)));
    CHECK(y.shape() == Shape{2, 4});
}

TEST_CASE("nn: shift-only and no-affine BatchNorm parameters") {
    nn::BatchNormOptions o;
    o.affine = nn::BatchNormAffine::shift;
    nn::BatchNorm1d shift(5, o);
    CHECK(keys(shift.state_dict()) ==
          std::vector<std::string>{"bias", "running_mean", "running_var", "num_batches_tracked"});
    CHECK(shift.num_parameters() == 5);
    o.affine = nn::BatchNormAffine::none;
    nn::BatchNorm1d none(5, o);
    CHECK(none.num_parameters() == 0);
    CHECK(keys(none.state_dict()) == std::vector<std::string>{"running_mean", "running_var", "num_batches_tracked"});
}

TEST_CASE("nn: load_state_dict round trip and errors") {
    auto a = small_net();
    auto b = small_net();
    // Make b differ from a, then load a's state into b.
    nn::NamedTensors snap;
    for (auto& [n, t] : a->state_dict()) snap.emplace_back(n, t.clone());
    for (auto& [n, t] : snap)
        if (t.dtype() == DType::f32) t.fill_(0.25);
    b->load_state_dict(snap);
    for (const auto& [n, t] : b->state_dict())
        if (t.dtype() == DType::f32) CHECK(gs::test::max_abs_diff(t, Tensor::full(t.shape(), 0.25)) == 0);

    auto before = b->state_dict()[0].second.clone();
    nn::NamedTensors missing(snap.begin() + 1, snap.end());
    missing[0].second = missing[0].second.clone().fill_(7.0);  // would be written if loading were partial
    CHECK_THROWS_WITH_AS(b->load_state_dict(missing), doctest::Contains("missing keys: 0.weight"), gs::Error);
    CHECK(b->state_dict()[1].second.at<double>({0}) == 0.25);  // nothing written on error
    b->load_state_dict(missing, /*strict=*/false);  // non-strict tolerates the missing key
    CHECK(gs::test::max_abs_diff(b->state_dict()[0].second, before) == 0);

    nn::NamedTensors extra = snap;
    extra.emplace_back("5.weight", Tensor::zeros({1}));
    CHECK_THROWS_WITH_AS(b->load_state_dict(extra), doctest::Contains("unexpected keys: 5.weight"), gs::Error);

    nn::NamedTensors bad_shape = snap;
    bad_shape[7].second = Tensor::zeros({4, 11});
    CHECK_THROWS_WITH_AS(b->load_state_dict(bad_shape), doctest::Contains("4.weight (expected [4, 12] f32"), gs::Error);
    nn::NamedTensors bad_dtype = snap;
    bad_dtype[6].second = Tensor::zeros({}, DType::f32);
    CHECK_THROWS_WITH_AS(b->load_state_dict(bad_dtype), doctest::Contains("1.num_batches_tracked (expected"), gs::Error);
    CHECK_THROWS_WITH_AS(b->load_state_dict(bad_dtype, false), doctest::Contains("mismatched"), gs::Error);
}

TEST_CASE("nn: train/eval propagate to every descendant") {
    auto net = small_net();
    CHECK(net->is_training());
    net->eval();
    for (const auto& [n, c] : net->named_children()) CHECK_FALSE(c->is_training());
    net->train();
    for (const auto& [n, c] : net->named_children()) CHECK(c->is_training());
    // A child added to an eval-mode container takes the container's mode.
    net->eval();
    auto r = std::make_shared<nn::ReLU>();
    net->push_back(r);
    CHECK_FALSE(r->is_training());
}

TEST_CASE("nn: registration errors") {
    nn::Sequential s;
    CHECK_THROWS_WITH_AS(s.push_back(nullptr), doctest::Contains("is null"), gs::Error);
    Generator gen(1);
    nn::Linear l(3, 2, gen);
    CHECK_THROWS_WITH_AS(l.parameter("nope"), doctest::Contains("no parameter named 'nope'"), gs::Error);
    CHECK_THROWS_WITH_AS(l.set_parameter("weight", Variable(Tensor::zeros({3, 2}))),
                         doctest::Contains("expects [2, 3] f32"), gs::Error);
    CHECK_THROWS_WITH_AS(l.forward(Variable(Tensor::zeros({4, 5}))), doctest::Contains("Linear: expected input (..., 3)"),
                         gs::Error);
}

TEST_CASE("nn: BatchNorm1d running statistics after two training steps / then eval") {
    nn::BatchNormOptions o;
    o.dtype = DType::f64;
    nn::BatchNorm1d bn(2, o);
    const std::vector<double> x1{1, 2, 3, 5, -1, 0, 4, 1}, x2{0, 1, 2, 2, 6, -3, 1, 0};  // (4, 2) row-major
    auto stats = [](const std::vector<double>& x, int c) {
        double m = 0;
        for (int n = 0; n < 4; ++n) m += x[std::size_t(n * 2 + c)];
        m /= 4;
        double v = 0;
        for (int n = 0; n < 4; ++n) v += (x[std::size_t(n * 2 + c)] - m) * (x[std::size_t(n * 2 + c)] - m);
        return std::pair{m, v / 3};  // unbiased, as PyTorch's running_var
    };
    bn.forward(Variable(Tensor::from_vector(x1, {4, 2})));
    bn.forward(Variable(Tensor::from_vector(x2, {4, 2})));
    std::vector<double> rm(2), rv(2);
    for (int c = 0; c < 2; ++c) {
        auto [m1, v1] = stats(x1, c);
        auto [m2, v2] = stats(x2, c);
        rm[std::size_t(c)] = 0.9 * (0.9 * 0 + 0.1 * m1) + 0.1 * m2;
        rv[std::size_t(c)] = 0.9 * (0.9 * 1 + 0.1 * v1) + 0.1 * v2;
    }
    gs::test::check_close(bn.buffer("running_mean"), rm, 1e-14, 1e-15, "running_mean");  // f64, few roundings
    gs::test::check_close(bn.buffer("running_var"), rv, 1e-14, 1e-15, "running_var");
    CHECK(bn.buffer("num_batches_tracked").item<std::int64_t>() == 2);

    bn.eval();
    const Tensor y = bn.forward(Variable(Tensor::from_vector(x1, {4, 2}))).value();
    std::vector<double> want(8);
    for (int n = 0; n < 4; ++n)
        for (int c = 0; c < 2; ++c)
            want[std::size_t(n * 2 + c)] =
                (x1[std::size_t(n * 2 + c)] - rm[std::size_t(c)]) / std::sqrt(rv[std::size_t(c)] + 1e-5);
    gs::test::check_close(y, want, 1e-12, 1e-12, "eval output");
    CHECK(bn.buffer("num_batches_tracked").item<std::int64_t>() == 2);  // eval does not count
}

TEST_CASE("nn: initialization bounds and determinism") {
    Generator g1(9), g2(9);
    nn::Linear a(7, 5, g1), b(7, 5, g2);
    CHECK(gs::test::max_abs_diff(a.parameter("weight").value(), b.parameter("weight").value()) == 0);
    const double bound = 1 / std::sqrt(7.0);
    for (double w : a.parameter("weight").value().to_vector<double>()) CHECK(std::abs(w) <= bound);
    for (double w : a.parameter("bias").value().to_vector<double>()) CHECK(std::abs(w) <= bound);
    Generator g3(1);
    nn::Conv2d c(4, 6, 3, g3, nn::Conv2dOptions{.groups = 2});
    CHECK(c.parameter("weight").shape() == Shape{6, 2, 3, 3});
    CHECK(nn::init::fan_in(c.parameter("weight").value()) == 18);
    for (double w : c.parameter("weight").value().to_vector<double>()) CHECK(std::abs(w) <= 1 / std::sqrt(18.0));

    Tensor t = Tensor::empty({1000}, DType::f64);
    Generator g4(2);
    nn::init::truncated_normal(t, g4, 0.0, 1.0, -0.5, 1.0);
    double lo = 1e9, hi = -1e9;
    for (double v : t.to_vector<double>()) lo = std::min(lo, v), hi = std::max(hi, v);
    CHECK(lo >= -0.5);
    CHECK(hi <= 1.0);
    CHECK(lo < -0.45);  // 1000 draws reach near both ends of the interval
    CHECK(hi > 0.95);
    Tensor k = Tensor::empty({200, 50}, DType::f64);
    nn::init::kaiming_normal(k, g4);
    double s2 = 0;
    for (double v : k.to_vector<double>()) s2 += v * v;
    CHECK(std::abs(std::sqrt(s2 / 10000) - std::sqrt(2.0 / 50)) < 0.01);  // 1e4 draws: std error ~0.7%
}

TEST_CASE("nn: gradcheck Linear and Conv2d w.r.t. input and parameters") {
    Generator g(1);
    nn::Linear lin(3, 2, g, true, DType::f64);
    check_module_grad("Linear", lin, randn64({4, 3}, 1));
    nn::Linear nobias(3, 2, g, false, DType::f64);
    check_module_grad("Linear no bias", nobias, randn64({2, 5, 3}, 2));
    nn::Conv2d conv(4, 2, 3, g, nn::Conv2dOptions{.stride = 2, .padding = 1, .dilation = 1, .groups = 2,
                                                  .bias = true, .dtype = DType::f64});
    check_module_grad("Conv2d", conv, randn64({2, 4, 5, 5}, 3));
    nn::Conv2d dil(2, 3, 2, g, nn::Conv2dOptions{.padding = 1, .dilation = 2, .bias = false, .dtype = DType::f64});
    check_module_grad("Conv2d dilated", dil, randn64({1, 2, 4, 5}, 4));
}

TEST_CASE("nn: gradcheck BatchNorm (affine / shift-only / none / train and eval)") {
    for (auto affine : {nn::BatchNormAffine::full, nn::BatchNormAffine::shift, nn::BatchNormAffine::none}) {
        nn::BatchNormOptions o;
        o.affine = affine;
        o.dtype = DType::f64;
        nn::BatchNorm2d bn2(3, o);
        check_module_grad("BatchNorm2d train", bn2, randn64({2, 3, 2, 3}, 5));
        nn::BatchNorm1d bn1(4, o);
        check_module_grad("BatchNorm1d train", bn1, randn64({5, 4}, 6));
        bn1.eval();
        check_module_grad("BatchNorm1d eval", bn1, randn64({5, 4}, 7));
    }
}

TEST_CASE("nn: gradcheck parameter-free layers and containers") {
    nn::ReLU relu;
    check_module_grad("ReLU", relu, randn64({3, 4}, 8));
    nn::MaxPool2d mp(2);
    check_module_grad("MaxPool2d", mp, randn64({1, 2, 4, 5}, 9));
    nn::AvgPool2d ap(3, 2, 1, false);
    check_module_grad("AvgPool2d", ap, randn64({2, 1, 5, 4}, 10));
    nn::GlobalAvgPool gap;
    check_module_grad("GlobalAvgPool", gap, randn64({2, 3, 2, 3}, 11));
    CHECK(gap.forward(Variable(randn64({2, 3, 2, 3}, 1))).shape() == Shape{2, 3});
    nn::Flatten fl;
    check_module_grad("Flatten", fl, randn64({2, 3, 2}, 12));

    nn::Dropout drop(0.4, Generator(42, 3));
    const Generator start = drop.generator();
    // Each evaluation must see the same mask: restore the generator before every forward.
    check_grad("Dropout", [&](const std::vector<Variable>& in) {
        drop.generator() = start;
        return drop.forward(in[0]);
    }, {randn64({4, 5}, 13)});
    drop.generator() = start;
    drop.forward(Variable(randn64({4, 5}, 1)));
    CHECK(drop.generator().offset == start.offset + 20);  // state advances, readable for checkpoints
    drop.eval();
    const Tensor x = randn64({4, 5}, 2);
    CHECK(gs::test::max_abs_diff(drop.forward(Variable(x)).value(), x) == 0);

    Generator g(2);
    auto seq = std::make_shared<nn::Sequential>(std::vector<std::shared_ptr<nn::Module>>{
        std::make_shared<nn::Linear>(3, 4, g, true, DType::f64), std::make_shared<nn::ReLU>(),
        std::make_shared<nn::Linear>(4, 2, g, true, DType::f64)});
    check_grad("Sequential", [&](const std::vector<Variable>& in) { return seq->forward(in[0]); }, {randn64({3, 3}, 14)});

    nn::Concat cat;
    nn::Conv2dOptions co{.padding = 1, .dtype = DType::f64};
    cat.add(std::make_shared<nn::Conv2d>(2, 3, 1, g, nn::Conv2dOptions{.dtype = DType::f64}))
        .add(std::make_shared<nn::Conv2d>(2, 1, 3, g, co))
        .add("pool", std::make_shared<nn::MaxPool2d>(3, 1, 1));
    CHECK(cat.forward(Variable(randn64({1, 2, 4, 4}, 1))).shape() == Shape{1, 6, 4, 4});
    CHECK(keys(cat.state_dict()) == std::vector<std::string>{"0.weight", "0.bias", "1.weight", "1.bias"});
    check_grad("Concat", [&](const std::vector<Variable>& in) { return cat.forward(in[0]); }, {randn64({1, 2, 3, 4}, 15)});
}

TEST_CASE("nn: LocalResponseNorm matches a naive loop and gradchecks") {
    for (std::int64_t size : {1, 3, 4, 7}) {
        const double alpha = 0.3, beta = 0.75, k = 2.0;  // large alpha so the window matters
        nn::LocalResponseNorm lrn(size, alpha, beta, k);
        const std::int64_t N = 2, C = 5, H = 2, W = 3;
        const Tensor x = randn64({N, C, H, W}, 20 + std::uint64_t(size));
        const Tensor y = lrn.forward(Variable(x)).value();
        std::vector<double> want;
        for (std::int64_t n = 0; n < N; ++n)
            for (std::int64_t c = 0; c < C; ++c)
                for (std::int64_t h = 0; h < H; ++h)
                    for (std::int64_t w = 0; w < W; ++w) {
                        double s = 0;
                        for (std::int64_t j = c - size / 2; j <= c + (size - 1) / 2; ++j)
                            if (j >= 0 && j < C) s += std::pow(x.at<double>({n, j, h, w}), 2);
                        want.push_back(x.at<double>({n, c, h, w}) / std::pow(k + alpha / double(size) * s, beta));
                    }
        INFO("size ", size);
        gs::test::check_close(y, want, 1e-12, 1e-14, "LRN");  // f64, a handful of roundings
        check_module_grad("LocalResponseNorm", lrn, randn64({1, C, 2, 2}, 30 + std::uint64_t(size)));
    }
    nn::LocalResponseNorm lrn(2);
    CHECK_THROWS_WITH_AS(lrn.forward(Variable(Tensor::zeros({3, 4}))), doctest::Contains("LocalResponseNorm: expected"),
                         gs::Error);
}

TEST_CASE("nn: Module::to(DType) converts floating parameters and buffers / keeps i64 buffers") {
    auto net = small_net();
    const Tensor w32 = net->state_dict()[0].second.clone();
    net->to(DType::f64);
    for (const auto& [n, t] : net->state_dict())
        CHECK(t.dtype() == (n == "1.num_batches_tracked" ? DType::i64 : DType::f64));
    for (const auto& v : net->parameters()) CHECK(v.requires_grad());
    CHECK(gs::test::max_abs_diff(net->state_dict()[0].second, w32) == 0);  // f32 -> f64 is exact
    // Layers read the converted entries: an f64 forward and backward work.
    Variable y = net->forward(Variable(randn64({2, 2, 4, 4}, 3)));
    CHECK(y.dtype() == DType::f64);
    autograd::sum(y).backward();
    CHECK(net->parameters()[0].grad().dtype() == DType::f64);
    CHECK_THROWS_WITH_AS(net->to(DType::i64), doctest::Contains("only floating dtypes"), gs::Error);
}
