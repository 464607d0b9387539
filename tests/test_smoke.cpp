// End to end: a tiny conv-BN-ReLU-pool-linear network overfits a fixed synthetic batch with SGD,
// through every layer family of the foundation at once. Needs no downloads.
#include <doctest/doctest.h>

#include <cmath>

#include "autograd/batch_norm.h"
#include "autograd/conv2d.h"
#include "autograd/elementwise.h"
#include "autograd/linalg.h"
#include "autograd/loss.h"
#include "autograd/pool.h"
#include "autograd/reduce.h"
#include "autograd/shape.h"
#include "tensor/random.h"

using namespace gs;
using namespace gs::autograd;

TEST_CASE("smoke: conv-BN-ReLU-pool-linear overfits a fixed batch") {
    const std::int64_t N = 16, C = 3, H = 8, W = 8, K = 8, classes = 4;
    Generator gen(2024, 0);
    const Tensor x = normal({N, C, H, W}, gen);
    const Tensor labels = randint({N}, gen, 0, classes);  // random labels: only memorization fits them

    Variable conv_w(normal({K, C, 3, 3}, gen, 0.0, std::sqrt(2.0 / (C * 9))), true);
    Variable conv_b(Tensor::zeros({K}), true);
    Variable gamma(Tensor::ones({K}), true), beta(Tensor::zeros({K}), true);
    Variable fc_w(normal({K * 4 * 4, classes}, gen, 0.0, std::sqrt(1.0 / (K * 16))), true);
    Variable fc_b(Tensor::zeros({classes}), true);
    std::vector<Variable*> params{&conv_w, &conv_b, &gamma, &beta, &fc_w, &fc_b};

    kernels::Conv2dGeometry conv;
    conv.pad_h = conv.pad_w = 1;
    kernels::Pool2dGeometry pool;
    pool.kernel_h = pool.kernel_w = pool.stride_h = pool.stride_w = 2;

    auto loss_fn = [&] {
        Variable h = conv2d(Variable(x), conv_w, conv_b, conv);
        h = relu(batch_norm_train(h, gamma, beta, 1e-5).y);
        h = max_pool2d(h, pool);                        // (N, K, 4, 4)
        h = matmul(reshape(h, {N, -1}), fc_w) + fc_b;  // (N, classes)
        return mean(cross_entropy(h, labels));
    };

    const double first = loss_fn().item();
    double last = first;
    for (int step = 0; step < 60; ++step) {
        Variable loss = loss_fn();
        last = loss.item();
        REQUIRE(std::isfinite(last));
        loss.backward();
        for (Variable* p : params) {
            REQUIRE(p->grad().defined());
            float* w = p->value().data<float>();
            const float* g = p->grad().data<float>();
            for (std::int64_t i = 0; i < p->numel(); ++i) w[i] -= 0.1f * g[i];
            p->zero_grad();
        }
    }
    last = loss_fn().item();
    INFO("loss went from " << first << " to " << last);
    CHECK(first > 1.0);   // ~log(4) = 1.39 at initialization
    CHECK(last < 0.05);   // memorized: 16 random labels need every layer's gradient to be right
}
