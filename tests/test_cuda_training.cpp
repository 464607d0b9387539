// End-to-end training on a GPU against the CPU: the same models from the same initialization on
// the same batches, a few SGD-with-momentum steps, and the loss curves compared step by step (the
// MLP, alexnet_small with LRN and max-pooling, inception_small with BatchNorm in training mode);
// then the classifier runner with --device cuda against --device cpu on a small Fashion-MNIST run.
// Skips (GS_REQUIRE_GPU) without a CUDA device.
#include <doctest/doctest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "cuda_test_util.h"
#include "experiments/runner/classifier.h"
#include "experiments/runner/progress.h"
#include "nn/models.h"
#include "nn/optim.h"
#include "temp_dir.h"
#include "test_util.h"

namespace {

using gs::Device;
using gs::Tensor;
using gs::autograd::Variable;
using i64 = std::int64_t;

using Build = std::function<std::shared_ptr<gs::nn::Sequential>(gs::Generator&, gs::DType)>;

// Losses of `steps` SGD steps (lr 0.02, momentum 0.9) on `device`, each on its own batch of 8 of
// the 32 examples in x.
std::vector<double> loss_curve(const Build& build, gs::DType dt, const Tensor& x, const Tensor& y, Device device,
                               int steps) {
    gs::Generator gen(7);
    auto net = build(gen, dt);
    net->to(device);  // initialized on the CPU: the same weights on both devices
    gs::nn::SGD opt(net->named_parameters(), gs::nn::SgdOptions{0.02, 0.9, 0.0, false});
    std::vector<double> out;
    for (int s = 0; s < steps; ++s) {
        const i64 b0 = (s % 4) * 8;
        const Tensor xb = x.narrow(0, b0, 8).to(dt).to(device), yb = y.narrow(0, b0, 8).to(device);
        Variable loss = gs::autograd::mean(gs::autograd::cross_entropy((*net)(Variable(xb)), yb));
        opt.zero_grad();
        loss.backward();
        opt.step();
        out.push_back(loss.value().to(Device::cpu()).item());
    }
    return out;
}

}  // namespace

TEST_CASE_TEMPLATE("cuda training: loss curves match the CPU step by step", T, float, double) {
    GS_REQUIRE_GPU();
    const gs::DType dt = gs::dtype_of<T>();
    const Tensor x = gs::test::randn<double>({32, 3, 28, 28}, 31);
    const Tensor y = gs::test::labels_for(32, 10, 32);
    const std::vector<std::pair<const char*, Build>> models = {
        {"mlp", [](gs::Generator& g, gs::DType d) { return gs::nn::mlp(3 * 28 * 28, {64, 32}, 10, g, d); }},
        {"alexnet_small", [](gs::Generator& g, gs::DType d) { return gs::nn::alexnet_small(3, 10, g, d); }},
        {"inception_small", [](gs::Generator& g, gs::DType d) { return gs::nn::inception_small(3, 10, true, g, d); }},
    };
    // Relative to max(1, |loss|), per step. f64: every op agrees to ~1e-15 and 8 steps of training
    // amplify that modestly. f32: cuDNN and cuBLAS sum in other orders (~1e-6 per op), and momentum
    // SGD carries the differences forward; 1e-3 is still far below a wrong gradient's effect on
    // the loss within a few steps.
    const double tol = std::is_same_v<T, double> ? 1e-8 : 1e-3;
    for (const auto& [name, build] : models) {
        const std::string model = name;
        CAPTURE(model);
        const std::vector<double> cpu = loss_curve(build, dt, x, y, Device::cpu(), 8);
        const std::vector<double> gpu = loss_curve(build, dt, x, y, gs::test::gpu(), 8);
        for (std::size_t s = 0; s < cpu.size(); ++s) {
            CAPTURE(s);
            CHECK(std::abs(gpu[s] - cpu[s]) <= tol * std::max(1.0, std::abs(cpu[s])));
        }
        CHECK(cpu.back() < cpu.front());  // it trained
    }
}

TEST_CASE("cuda training: the classifier runner on --device cuda follows the CPU run") {
    GS_REQUIRE_GPU();
    gs::exp::ClassifierSpec s;
    s.train_examples = 256;
    s.test_examples = 128;
    s.widths = {32};
    s.epochs = 2;
    s.batch_size = 64;
    s.lr = 0.05;
    s.seed = 3;
    gs::test::TempDir tmp;
    gs::exp::Progress quiet(gs::exp::Progress::Mode::off);
    gs::exp::RuntimeOptions cpu_rt, gpu_rt;
    gpu_rt.device = "cuda:0";
    const auto c = gs::exp::train_classifier(s, cpu_rt, tmp / "cpu", false, quiet);
    const auto g = gs::exp::train_classifier(s, gpu_rt, tmp / "gpu", false, quiet);
    REQUIRE(c.status == "complete");
    REQUIRE(g.status == "complete");
    // f32 over 8 steps: the final losses agree to 1e-3 relative (see above); accuracies may differ
    // by an example whose two top logits are within rounding, 1 in 128.
    const double lc = c.summary["final"]["train_loss"].get<double>(), lg = g.summary["final"]["train_loss"].get<double>();
    CHECK(std::abs(lg - lc) <= 1e-3 * std::max(1.0, std::abs(lc)));
    CHECK(std::abs(g.summary["final"]["test_accuracy"].get<double>() - c.summary["final"]["test_accuracy"].get<double>()) <=
          1.0 / 128 + 1e-12);
    CHECK(g.summary["device"] == "cuda:0");
}
