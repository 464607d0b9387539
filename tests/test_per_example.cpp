// nn::PerExampleCollector against the definition: B separate batch-of-one forward + backward
// passes with the ordinary autograd. For every covered layer (Linear with and without extra dims,
// Conv2d with stride/padding/dilation/groups, BatchNorm1d/2d in eval mode, affine and shift-only)
// and the Zhang et al. models (BatchNorm in eval mode), in f64 and f32: per-example gradients,
// squared norms, Gram (both methods), moments, chunks of examples and parameter subsets. Plus the
// policies and errors: uncovered layers, training-mode BatchNorm, a second collector.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/elementwise.h"
#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "autograd/shape.h"
#include "nn/layers.h"
#include "nn/models.h"
#include "composite_path.h"
#include "nn/per_example.h"
#include "test_util.h"

using namespace gs;
using autograd::Variable;
using i64 = std::int64_t;

namespace {

// Gives BatchNorm layers random running statistics (var > 0) and gamma/beta, so that eval-mode
// normalization is not the identity and the gamma/beta gradients are non-trivial.
void randomize_batch_norms(nn::Module& m, std::uint64_t seed) {
    Generator gen(seed);
    for (auto [name, t] : m.named_buffers()) {  // copies of shared handles: writes reach the module
        if (name.ends_with("running_mean")) t.copy_(normal(t.shape(), gen, 0.0, 0.5, t.dtype()));
        if (name.ends_with("running_var")) t.copy_(uniform(t.shape(), gen, 0.5, 2.0, t.dtype()));
    }
    for (const auto& [name, v] : m.named_parameters())
        if (v.dim() == 1 && name.find("bias") == std::string::npos) {
            Tensor t = v.value();
            t.copy_(uniform(v.shape(), gen, 0.5, 1.5, v.dtype()));
        }
}

using Loss = std::function<Variable(const Variable& out, const Tensor& labels)>;

Variable ce_loss(const Variable& out, const Tensor& labels) { return autograd::cross_entropy(out, labels); }

// The definition: row i = the flattened gradients (named_parameters order) of example i's own loss,
// from a batch-of-one forward and backward.
Tensor loop_gradients(nn::Module& model, const Tensor& x, const Tensor& labels, const Loss& loss) {
    const i64 B = x.size(0);
    const i64 P = model.num_parameters();
    Tensor out = Tensor::zeros({B, P}, x.dtype());
    for (i64 i = 0; i < B; ++i) {
        model.zero_grad();
        const Variable li = loss(model.forward(Variable(x.narrow(0, i, 1).contiguous())), labels.narrow(0, i, 1).contiguous());
        autograd::sum(li).backward();
        i64 off = 0;
        for (const auto& [name, v] : model.named_parameters()) {
            if (v.grad().defined()) out.select(0, i).narrow(0, off, v.numel()).copy_(v.grad().reshape({-1}));
            off += v.numel();
        }
    }
    model.zero_grad();
    return out;
}

double max_abs(const std::vector<double>& v) {
    double m = 1e-30;
    for (double e : v) m = std::max(m, std::abs(e));
    return m;
}

// |got - want| <= tol * max|want|, elementwise, reporting the worst element.
void check_close(const Tensor& got, const Tensor& want, double tol, const char* what) {
    const std::string what_s = what;
    CAPTURE(what_s);
    REQUIRE(got.shape() == want.shape());
    const auto g = got.to_vector<double>(), w = want.to_vector<double>();
    const double scale = max_abs(w);
    double worst = 0;
    std::size_t at = 0;
    for (std::size_t i = 0; i < g.size(); ++i)
        if (!(std::abs(g[i] - w[i]) <= worst)) worst = std::abs(g[i] - w[i]), at = i;
    CAPTURE(at);
    CAPTURE(worst);
    CAPTURE(scale);
    CHECK(worst <= tol * scale);
}

Tensor rows_norms(const Tensor& g) {
    const i64 B = g.size(0), n = g.size(1);
    const auto v = g.to_vector<double>();
    std::vector<double> out(std::size_t(B), 0.0);
    for (i64 i = 0; i < B; ++i)
        for (i64 k = 0; k < n; ++k) out[std::size_t(i)] += v[std::size_t(i * n + k)] * v[std::size_t(i * n + k)];
    return Tensor::from_vector(out, {B});
}

Tensor rows_gram(const Tensor& g) {
    const i64 B = g.size(0), n = g.size(1);
    const auto v = g.to_vector<double>();
    std::vector<double> out(std::size_t(B * B), 0.0);
    for (i64 i = 0; i < B; ++i)
        for (i64 j = 0; j < B; ++j)
            for (i64 k = 0; k < n; ++k) out[std::size_t(i * B + j)] += v[std::size_t(i * n + k)] * v[std::size_t(j * n + k)];
    return Tensor::from_vector(out, {B, B});
}

Tensor col_sums(const Tensor& g, bool square) {
    const i64 B = g.size(0), n = g.size(1);
    const auto v = g.to_vector<double>();
    std::vector<double> out(std::size_t(n), 0.0);
    for (i64 i = 0; i < B; ++i)
        for (i64 k = 0; k < n; ++k) {
            const double e = v[std::size_t(i * n + k)];
            out[std::size_t(k)] += square ? e * e : e;
        }
    return Tensor::from_vector(out, {n});
}

// Columns of `names` (named_parameters order) out of full rows.
Tensor select_columns(nn::Module& model, const Tensor& rows, const std::vector<std::string>& names) {
    std::vector<Tensor> parts;
    i64 off = 0;
    for (const auto& [name, v] : model.named_parameters()) {
        if (std::find(names.begin(), names.end(), name) != names.end()) parts.push_back(rows.narrow(1, off, v.numel()));
        off += v.numel();
    }
    return concat(parts, 1);
}

// Every per-example quantity of `model` on (x, labels) against the batch-of-one loop, on both
// backends of the kernels: the CPU loops and the composite path that CUDA tensors take (which
// refuses `patches` for Conv2d, so it runs automatic and materialize).
// tol: relative to the largest reference magnitude of each quantity.
// Every method by default; the whole models use `automatic` only (the forced methods on their
// 28x28 convolutions cost seconds, and the layer tests cover both methods per layer type).
const std::vector<kernels::PerExampleMethod> kAllMethods = {
    kernels::PerExampleMethod::automatic, kernels::PerExampleMethod::materialize, kernels::PerExampleMethod::patches};

void check_model(nn::Module& model, const Tensor& x, const Tensor& labels, double tol, const Loss& loss = ce_loss,
                 std::vector<std::string> subset = {},
                 const std::vector<kernels::PerExampleMethod>& methods = kAllMethods) {
    const Tensor ref = loop_gradients(model, x, labels, loss);
    const i64 B = x.size(0);
    std::vector<std::pair<bool, kernels::PerExampleMethod>> runs;  // (composite, method)
    for (bool composite : {false, true})
        for (kernels::PerExampleMethod method : methods)
            if (!composite || method != kernels::PerExampleMethod::patches) runs.emplace_back(composite, method);
    for (const auto& [composite, method] : runs) {
        CAPTURE(composite);
        const test::CompositePath path(composite);
        const std::string method_name = kernels::per_example_method_name(method);
        CAPTURE(method_name);
        nn::PerExampleOptions opt;
        opt.method = method;
        // Patches: a small budget forces several blocks of examples.
        if (method == kernels::PerExampleMethod::patches) opt.budget = 4096;
        nn::PerExampleCollector pe(model, opt);
        autograd::sum(loss(model.forward(Variable(x)), labels)).backward();
        model.zero_grad();
        CHECK(pe.batch_size() == B);
        CHECK(pe.num_parameters() == model.num_parameters());
        const Tensor g = pe.gradients();
        check_close(g, ref, tol, "gradients");
        const Tensor norms = pe.squared_norms(), gram = pe.gram();
        check_close(norms, rows_norms(ref), tol, "squared norms");
        check_close(gram, rows_gram(ref), tol, "gram");
        const nn::PerExampleMoments m = pe.moments();
        CHECK(m.count == B);
        check_close(m.sum, col_sums(ref, false), tol, "sum");
        check_close(m.sum_sq, col_sums(ref, true), tol, "sum_sq");
        // Chunks of examples reproduce the full result exactly (same kernels, same order per row).
        std::vector<Tensor> chunks;
        for (i64 b = 0; b < B; b += 2) chunks.push_back(pe.gradients({}, b, std::min(B, b + 2)));
        CHECK(concat(chunks, 0).to_vector<double>() == g.to_vector<double>());
        // Norms and Gram agree with the materialized gradients of the collector itself.
        check_close(norms, rows_norms(g), tol, "norms vs own gradients");
        check_close(gram, rows_gram(g), tol, "gram vs own gradients");
        if (!subset.empty()) {
            const Tensor rs = select_columns(model, ref, subset);
            check_close(pe.gradients(subset), rs, tol, "subset gradients");
            check_close(pe.squared_norms(subset), rows_norms(rs), tol, "subset norms");
            check_close(pe.gram(subset), rows_gram(rs), tol, "subset gram");
            check_close(pe.moments(subset).sum_sq, col_sums(rs, true), tol, "subset sum_sq");
        }
    }
}

template <class T>
constexpr DType dt() {
    return dtype_of<T>();
}

// f64: the collector and the loop differ only in summation order (1e-15 relative per op).
// f32: the batch-of-one passes and the batched pass sum in different orders through deep nets;
// observed differences are ~1e-6 relative, 1e-4 leaves room without hiding wrong terms (a missing
// or doubled contribution is O(1) relative).
template <class T>
double model_tol() {
    return std::is_same_v<T, double> ? 1e-9 : 1e-4;
}

}  // namespace

TEST_CASE_TEMPLATE("per_example collector: linear layers match batch-of-one passes", T, float, double) {
    Generator gen(3);
    auto net = std::make_shared<nn::Sequential>();
    net->push_back(std::make_shared<nn::Linear>(7, 6, gen, true, dt<T>()));
    net->push_back(std::make_shared<nn::ReLU>());
    net->push_back(std::make_shared<nn::Linear>(6, 5, gen, false, dt<T>()));
    net->push_back(std::make_shared<nn::ReLU>());
    net->push_back(std::make_shared<nn::Linear>(5, 4, gen, true, dt<T>()));
    const Tensor x = test::randn<T>({5, 7}, 1);
    check_model(*net, x, test::labels_for(5, 4, 2), model_tol<T>(), ce_loss, {"0.bias", "4.weight"});
}

TEST_CASE_TEMPLATE("per_example collector: linear with extra dims matches batch-of-one passes", T, float, double) {
    // x (B, T, I): each example's weight gradient sums over its T positions.
    Generator gen(4);
    auto net = std::make_shared<nn::Sequential>();
    net->push_back(std::make_shared<nn::Linear>(6, 5, gen, true, dt<T>()));
    net->push_back(std::make_shared<nn::ReLU>());
    net->push_back(std::make_shared<nn::Flatten>());
    net->push_back(std::make_shared<nn::Linear>(15, 3, gen, true, dt<T>()));
    check_model(*net, test::randn<T>({4, 3, 6}, 5), test::labels_for(4, 3, 6), model_tol<T>());
}

TEST_CASE_TEMPLATE("per_example collector: conv2d geometries match batch-of-one passes", T, float, double) {
    struct Case {
        i64 C, K, kernel;
        nn::Conv2dOptions o;
    };
    auto opts = [](i64 s, i64 p, i64 d, i64 g, bool bias) {
        nn::Conv2dOptions o;
        o.stride = s, o.padding = p, o.dilation = d, o.groups = g, o.bias = bias, o.dtype = dt<T>();
        return o;
    };
    for (const Case& c : {Case{3, 4, 3, opts(1, 0, 1, 1, true)}, Case{3, 5, 3, opts(2, 1, 1, 1, true)},
                         Case{2, 3, 3, opts(1, 2, 2, 1, false)}, Case{4, 6, 3, opts(1, 1, 1, 2, true)},
                         Case{4, 4, 1, opts(1, 0, 1, 4, true)}}) {
        CAPTURE(c.o.stride);
        CAPTURE(c.o.padding);
        CAPTURE(c.o.dilation);
        CAPTURE(c.o.groups);
        Generator gen(5);
        auto conv = std::make_shared<nn::Conv2d>(c.C, c.K, c.kernel, gen, c.o);
        const i64 H = 7;
        const i64 OH = conv->geometry().out_h(H, c.kernel), OW = conv->geometry().out_w(H, c.kernel);
        auto net = std::make_shared<nn::Sequential>();
        net->push_back(conv);
        net->push_back(std::make_shared<nn::ReLU>());
        net->push_back(std::make_shared<nn::Flatten>());
        net->push_back(std::make_shared<nn::Linear>(c.K * OH * OW, 3, gen, true, dt<T>()));
        check_model(*net, test::randn<T>({3, c.C, H, H}, 6), test::labels_for(3, 3, 7), model_tol<T>(), ce_loss,
                    {"0.weight"});
    }
}

TEST_CASE_TEMPLATE("per_example collector: batch norm eval matches batch-of-one passes", T, float, double) {
    for (nn::BatchNormAffine affine : {nn::BatchNormAffine::full, nn::BatchNormAffine::shift}) {
        CAPTURE(int(affine));
        nn::BatchNormOptions bo;
        bo.affine = affine;
        bo.dtype = dt<T>();
        {   // BatchNorm1d after a Linear.
            Generator gen(8);
            auto net = std::make_shared<nn::Sequential>();
            net->push_back(std::make_shared<nn::Linear>(5, 6, gen, true, dt<T>()));
            net->push_back(std::make_shared<nn::BatchNorm1d>(6, bo));
            net->push_back(std::make_shared<nn::ReLU>());
            net->push_back(std::make_shared<nn::Linear>(6, 3, gen, true, dt<T>()));
            randomize_batch_norms(*net, 9);
            net->eval();
            check_model(*net, test::randn<T>({4, 5}, 10), test::labels_for(4, 3, 11), model_tol<T>(), ce_loss, {"1.bias"});
        }
        {   // BatchNorm2d after a Conv2d.
            Generator gen(12);
            nn::Conv2dOptions co;
            co.padding = 1, co.bias = false, co.dtype = dt<T>();
            auto net = std::make_shared<nn::Sequential>();
            net->push_back(std::make_shared<nn::Conv2d>(2, 3, 3, gen, co));
            net->push_back(std::make_shared<nn::BatchNorm2d>(3, bo));
            net->push_back(std::make_shared<nn::ReLU>());
            net->push_back(std::make_shared<nn::Flatten>());
            net->push_back(std::make_shared<nn::Linear>(3 * 5 * 5, 3, gen, true, dt<T>()));
            randomize_batch_norms(*net, 13);
            net->eval();
            check_model(*net, test::randn<T>({3, 2, 5, 5}, 14), test::labels_for(3, 3, 15), model_tol<T>());
        }
    }
}

TEST_CASE_TEMPLATE("per_example collector: zhang models match batch-of-one passes", T, float, double) {
    Generator gen(21);
    const Tensor x = test::randn<T>({3, 3, 28, 28}, 22);
    const Tensor y = test::labels_for(3, 10, 23);
    SUBCASE("mlp") {
        auto net = nn::mlp(3 * 28 * 28, {32, 16}, 10, gen, dt<T>());
        check_model(*net, x, y, model_tol<T>(), ce_loss, {}, {kernels::PerExampleMethod::automatic});
    }
    SUBCASE("alexnet_small") {
        auto net = nn::alexnet_small(3, 10, gen, dt<T>());
        check_model(*net, x, y, model_tol<T>(), ce_loss, {}, {kernels::PerExampleMethod::automatic});
    }
    SUBCASE("inception_small with batch norm in eval mode") {
        // 8x8 input (the head is global; 8 -> 4 -> 2 through the two downsamples) keeps the
        // 19-conv network at a second or two.
        auto net = nn::inception_small(3, 10, true, gen, dt<T>());
        randomize_batch_norms(*net, 24);
        net->eval();
        check_model(*net, test::randn<T>({3, 3, 8, 8}, 25), y, model_tol<T>(), ce_loss, {}, {kernels::PerExampleMethod::automatic});
    }
}

TEST_CASE("per_example collector: without parameter gradients the results are the same and .grad is untouched") {
    Generator gen(31);
    const Tensor y = test::labels_for(3, 10, 33);
    auto mlp = nn::mlp(3 * 8 * 8, {16, 12}, 10, gen, DType::f64);
    auto cnn = nn::inception_small(3, 10, true, gen, DType::f64);
    randomize_batch_norms(*cnn, 34);
    cnn->eval();
    for (nn::Module* model : {static_cast<nn::Module*>(mlp.get()), static_cast<nn::Module*>(cnn.get())}) {
        const Tensor x = test::randn<double>({3, 3, 8, 8}, 32);
        auto run = [&](bool parameter_grads) {
            nn::PerExampleOptions opt;
            opt.parameter_grads = parameter_grads;
            nn::PerExampleCollector pe(*model, opt);
            autograd::sum(autograd::cross_entropy(model->forward(Variable(x)), y)).backward();
            for (const auto& [name, v] : model->named_parameters()) {
                CAPTURE(name);
                CHECK(v.requires_grad() == parameter_grads);
                CHECK(v.grad().defined() == parameter_grads);
            }
            std::vector<Tensor> out{pe.gradients(), pe.squared_norms(), pe.gram()};
            model->zero_grad();
            return out;
        };
        const std::vector<Tensor> with = run(true), without = run(false);
        // The same output gradients reach the same kernels: equal bits.
        for (std::size_t i = 0; i < with.size(); ++i) CHECK(with[i].to_vector<double>() == without[i].to_vector<double>());
        for (const auto& [name, v] : model->named_parameters()) {
            CAPTURE(name);
            CHECK(v.requires_grad());  // restored by the destructor
        }
    }
    // The first layer (input needing no gradient, parameters frozen) hands on a leaf: backward
    // stops there instead of forming an input gradient nobody reads.
    nn::Conv2d conv(3, 4, 3, gen, nn::Conv2dOptions{.padding = 1, .dtype = DType::f64});
    const Variable x(test::randn<double>({2, 3, 5, 5}, 35));
    for (bool parameter_grads : {false, true}) {
        CAPTURE(parameter_grads);
        nn::PerExampleOptions opt;
        opt.parameter_grads = parameter_grads;
        nn::PerExampleCollector pe(conv, opt);
        const Variable out = conv.forward(x);
        CHECK(out.requires_grad());
        CHECK(out.is_leaf() == !parameter_grads);
        autograd::sum(out).backward();
        const Tensor g = pe.gradients();
        // Per-example bias gradients of sum(out): 25 output positions per channel.
        for (std::int64_t i = 0; i < 2; ++i)
            for (std::int64_t k = 0; k < 4; ++k) CHECK(g.at<double>({i, 4 * 27 + k}) == 25.0);
    }
}

TEST_CASE("per_example collector: other losses and shared weights") {
    // MSE per-example loss, and one Linear used twice in a forward (its per-example gradient is the
    // sum of both calls; norms/Gram then go through materialized rows).
    Generator gen(31);
    auto lin = std::make_shared<nn::Linear>(4, 4, gen, true, DType::f64);
    auto net = std::make_shared<nn::Sequential>();
    net->push_back(lin);
    net->push_back(std::make_shared<nn::ReLU>());
    net->push_back(lin);
    const Tensor x = test::randn<double>({4, 4}, 32);
    const Tensor target = test::randn<double>({4, 4}, 33);
    const Loss mse = [&](const Variable& out, const Tensor& idx) {
        // idx holds each example's row of `target` (so batch-of-one passes pick the right one).
        std::vector<Tensor> rows;
        for (std::int64_t v : idx.to_vector<std::int64_t>()) rows.push_back(target.narrow(0, v, 1));
        return autograd::mse(out, Variable(concat(rows, 0)));
    };
    check_model(*net, x, Tensor::arange(4), 1e-9, mse);
}

TEST_CASE("per_example collector: uncovered layers raise an error naming them") {
    // A module with a parameter of its own and no per-example rule.
    struct Scale : nn::Module {
        Scale() { register_parameter("s", Tensor::ones({1}, DType::f64)); }
        Variable forward(const Variable& x) override { return x * parameter("s"); }
        std::string type_name() const override { return "Scale"; }
    };
    Generator gen(41);
    auto net = std::make_shared<nn::Sequential>();
    net->push_back(std::make_shared<nn::Linear>(3, 2, gen, true, DType::f64));
    net->push_back(std::make_shared<Scale>());
    nn::PerExampleCollector pe(*net);
    autograd::sum(autograd::cross_entropy(net->forward(Variable(test::randn<double>({2, 3}, 42))), test::labels_for(2, 2, 43)))
        .backward();
    CHECK_THROWS_WITH_AS(pe.gradients(), doctest::Contains("parameter '1.s' belongs to layer '1' of type Scale"), gs::Error);
    CHECK_THROWS_WITH_AS(pe.squared_norms(), doctest::Contains("no per-example rule"), gs::Error);
    // Leaving it out works.
    CHECK(pe.gradients({"0.weight", "0.bias"}).shape() == Shape{2, 8});
    CHECK_THROWS_WITH_AS(pe.gram({"nope"}), doctest::Contains("no parameter 'nope'"), gs::Error);
}

TEST_CASE("per_example collector: batch norm policies") {
    Generator gen(51);
    nn::BatchNormOptions bo;
    bo.dtype = DType::f64;
    auto net = std::make_shared<nn::Sequential>();
    net->push_back(std::make_shared<nn::Linear>(3, 4, gen, true, DType::f64));
    auto bn = std::make_shared<nn::BatchNorm1d>(4, bo);
    net->push_back(bn);
    net->train();
    const Tensor x = test::randn<double>({3, 3}, 52);
    SUBCASE("eval_stats switches BatchNorm to eval for the collector's lifetime") {
        {
            nn::PerExampleCollector pe(*net);
            CHECK_FALSE(bn->is_training());
            CHECK(net->is_training());  // only the BatchNorms are switched
            autograd::sum(net->forward(Variable(x))).backward();
            CHECK(bn->buffer("num_batches_tracked").item<std::int64_t>() == 0);  // running stats untouched
            CHECK(pe.gradients().shape() == Shape{3, net->num_parameters()});
            bn->train();
            CHECK_THROWS_WITH_AS(net->forward(Variable(x)), doctest::Contains("BatchNorm1d '1' runs in training mode"),
                                 gs::Error);
        }
        CHECK(bn->is_training());  // restored
    }
    SUBCASE("refuse throws on a training-mode BatchNorm before touching its statistics") {
        nn::PerExampleOptions o;
        o.batch_norm = nn::BatchNormPolicy::refuse;
        nn::PerExampleCollector pe(*net, o);
        CHECK_THROWS_WITH_AS(net->forward(Variable(x)), doctest::Contains("policy refuse"), gs::Error);
        CHECK(bn->buffer("num_batches_tracked").item<std::int64_t>() == 0);
        net->eval();
        autograd::sum(net->forward(Variable(x))).backward();
        CHECK(pe.squared_norms().numel() == 3);
    }
    CHECK(std::string(nn::batch_norm_policy_name(nn::BatchNormPolicy::eval_stats)) == "eval_stats");
}

TEST_CASE("per_example collector: lifetime and misuse") {
    Generator gen(61);
    auto net = std::make_shared<nn::Sequential>();
    net->push_back(std::make_shared<nn::Linear>(3, 2, gen, true, DType::f64));
    const Tensor x = test::randn<double>({2, 3}, 62);
    {
        nn::PerExampleCollector pe(*net);
        CHECK_THROWS_WITH_AS(nn::PerExampleCollector{*net}, doctest::Contains("already active"), gs::Error);
        CHECK_THROWS_WITH_AS(pe.batch_size(), doctest::Contains("no layer was recorded"), gs::Error);
        // Under NoGradGuard nothing is recorded.
        {
            autograd::NoGradGuard ng;
            net->forward(Variable(x));
        }
        CHECK_THROWS_AS(pe.batch_size(), gs::Error);
        autograd::sum(net->forward(Variable(x))).backward();
        const Tensor n1 = pe.squared_norms();
        // A second batch after clear() replaces the first.
        pe.clear();
        autograd::sum(net->forward(Variable(x.narrow(0, 0, 1).contiguous()))).backward();
        CHECK(pe.batch_size() == 1);
        CHECK(pe.squared_norms().item<double>() == doctest::Approx(n1.to_vector<double>()[0]).epsilon(1e-12));
        // The parameters still accumulate .grad as usual.
        CHECK(net->parameters()[0].grad().defined());
    }
    // Destroyed: forward passes record nothing, and a new collector can start.
    net->forward(Variable(x));
    nn::PerExampleCollector again(*net);
    CHECK_THROWS_AS(again.batch_size(), gs::Error);
}
