// The Quick start demo: a two-layer MLP learns a teacher network's labels on generated data with
// minibatch SGD, using only tensor/, kernels/ and autograd/ (nn/ and optim/ come later). It prints
// the training loss and accuracy as they improve.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "autograd/elementwise.h"
#include "autograd/linalg.h"
#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "kernels/index.h"
#include "kernels/reduce.h"
#include "tensor/random.h"

using namespace gs;
using autograd::Variable;

namespace {

struct Options {
    std::int64_t examples = 2048, inputs = 32, hidden = 128, classes = 4, batch = 128, steps = 600;
    double lr = 0.1;
    std::uint64_t seed = 0;
};

[[noreturn]] void usage(const std::string& error) {
    std::fprintf(stderr,
                 "train_mlp_demo: %s\n"
                 "usage: train_mlp_demo [--steps N] [--lr X] [--hidden N] [--batch N] [--examples N] [--seed N]\n",
                 error.c_str());
    std::exit(2);
}

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string flag = argv[i];
        if (flag == "--help" || flag == "-h") usage("train an MLP on generated data");
        if (i + 1 >= argc) usage("flag " + flag + " needs a value");
        const std::string value = argv[++i];
        char* end = nullptr;
        const double v = std::strtod(value.c_str(), &end);
        if (end == value.c_str() || *end != '\0' || !std::isfinite(v)) usage("flag " + flag + ": '" + value + "' is not a number");
        const bool positive_int = v >= 1 && v == std::floor(v);
        if (flag == "--lr" && v > 0) o.lr = v;
        else if (flag == "--seed" && v >= 0 && v == std::floor(v)) o.seed = std::uint64_t(v);
        else if (flag == "--steps" && positive_int) o.steps = std::int64_t(v);
        else if (flag == "--hidden" && positive_int) o.hidden = std::int64_t(v);
        else if (flag == "--batch" && positive_int) o.batch = std::int64_t(v);
        else if (flag == "--examples" && positive_int) o.examples = std::int64_t(v);
        else if (flag == "--lr" || flag == "--seed" || flag == "--steps" || flag == "--hidden" || flag == "--batch" || flag == "--examples")
            usage("flag " + flag + ": value " + value + " is out of range");
        else usage("unknown flag " + flag);
    }
    if (o.batch > o.examples) usage("--batch " + std::to_string(o.batch) + " exceeds --examples " + std::to_string(o.examples));
    return o;
}

// Kaiming-uniform weights (fan_in, fan_out) for a ReLU layer.
Variable init_weight(std::int64_t fan_in, std::int64_t fan_out, Generator& gen) {
    const double bound = std::sqrt(6.0 / double(fan_in));
    return Variable(uniform({fan_in, fan_out}, gen, -bound, bound), true);
}

// w <- w - lr * dL/dw. NOTE: plain SGD written out for the demo; the optimizers live in nn/ (#4).
void sgd_step(Variable& p, double lr) {
    float* w = p.value().data<float>();
    const float* g = p.grad().data<float>();
    for (std::int64_t i = 0; i < p.numel(); ++i) w[i] -= float(lr) * g[i];
    p.zero_grad();
}

}  // namespace

int main(int argc, char** argv) {
    const Options o = parse(argc, argv);
    Generator data_gen(o.seed, 0), init_gen(o.seed, 1), order_gen(o.seed, 2);

    // Data: Gaussian inputs labelled by the argmax of a random teacher network's outputs.
    const Tensor x = normal({o.examples, o.inputs}, data_gen);
    Tensor labels;
    {
        autograd::NoGradGuard no_grad;
        Variable t1(normal({o.inputs, 64}, data_gen)), t2(normal({64, o.classes}, data_gen));
        labels = kernels::argmax(autograd::matmul(autograd::relu(autograd::matmul(Variable(x), t1)), t2).value(), 1);
    }

    Variable w1 = init_weight(o.inputs, o.hidden, init_gen), w2 = init_weight(o.hidden, o.classes, init_gen);
    Variable b1(Tensor::zeros({o.hidden}), true), b2(Tensor::zeros({o.classes}), true);
    auto forward = [&](const Variable& in) {
        return autograd::matmul(autograd::relu(autograd::matmul(in, w1) + b1), w2) + b2;
    };

    std::printf("gradscope demo: MLP %lld-%lld-%lld on %lld generated examples, batch %lld, lr %g\n",
                (long long)o.inputs, (long long)o.hidden, (long long)o.classes, (long long)o.examples,
                (long long)o.batch, o.lr);
    const auto start = std::chrono::steady_clock::now();
    const std::int64_t per_epoch = o.examples / o.batch;
    Tensor order;
    for (std::int64_t step = 0; step < o.steps; ++step) {
        if (step % per_epoch == 0) order = randperm(o.examples, order_gen);  // reshuffle every epoch
        const Tensor idx = order.narrow(0, (step % per_epoch) * o.batch, o.batch);
        Variable loss = autograd::mean(autograd::cross_entropy(forward(Variable(kernels::index_select(x, 0, idx))),
                                                               kernels::index_select(labels, 0, idx)));
        loss.backward();
        for (Variable* p : {&w1, &b1, &w2, &b2}) sgd_step(*p, o.lr);

        if (step % 50 == 0 || step + 1 == o.steps) {
            autograd::NoGradGuard no_grad;
            const Variable logits = forward(Variable(x));
            const double full_loss = autograd::mean(autograd::cross_entropy(logits, labels)).item();
            const auto pred = kernels::argmax(logits.value(), 1).to_vector<std::int64_t>();
            const auto truth = labels.to_vector<std::int64_t>();
            std::int64_t correct = 0;
            for (std::size_t i = 0; i < pred.size(); ++i) correct += pred[i] == truth[i];
            const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
            std::printf("step %5lld  loss %.4f  train accuracy %5.1f%%  (%.2f s)\n", (long long)step, full_loss,
                        100.0 * double(correct) / double(o.examples), seconds);
        }
    }
    return 0;
}
