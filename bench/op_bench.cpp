// op_bench: times single kernels on one device and prints one JSON line per op: milliseconds per
// call (median of the timed calls) and GFLOP/s where the flop count is standard. It is the per-op
// half of scripts/gpu-check (train_bench is the per-step half) and runs on the CPU as well, so the
// same table exists for both devices.
//
//   op_bench                       # every op on the CPU, f32
//   op_bench --device cuda --dtype f64
//
// The shapes are those of the Zhang models at batch 128 (alexnet_small's 5x5 convolutions, a
// BatchNorm and pooling over its feature maps) plus two square GEMMs.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "kernels/batch_norm.h"
#include "kernels/conv2d.h"
#include "kernels/elementwise.h"
#include "kernels/local_response_norm.h"
#include "kernels/loss.h"
#include "kernels/matmul.h"
#include "kernels/pool.h"
#include "tensor/random.h"

using namespace gs;

namespace {

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr, "op_bench: %s\nusage: op_bench [--device cpu|cuda:N] [--dtype f32|f64] [--min-seconds S]\n",
                 why.c_str());
    std::exit(2);
}

// Waits for every queued kernel by reading one element of `t` back to the host (asynchronous GPU
// work is ordered on one stream, so the copy completes after it); free on the CPU.
void wait_for(const Tensor& t) {
    if (t.device().is_cuda() && t.numel() > 0) (void)t.reshape({-1}).narrow(0, 0, 1).to(Device::cpu());
}

struct Op {
    std::string name;
    double flops;                        // per call; 0 where no standard count applies
    std::function<Tensor()> call;        // returns an output to wait on
};

// Median milliseconds per call, after one warm-up call, over at least 3 calls and min_seconds.
double time_ms(const Op& op, double min_seconds) {
    wait_for(op.call());
    std::vector<double> ms;
    double total = 0;
    while (ms.size() < 3 || total < min_seconds) {
        const auto t0 = std::chrono::steady_clock::now();
        wait_for(op.call());
        const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        ms.push_back(1e3 * s);
        total += s;
    }
    std::sort(ms.begin(), ms.end());
    return ms[ms.size() / 2];
}

int run(int argc, char** argv) {
    std::string device_name = "cpu", dtype_name_arg = "f32";
    double min_seconds = 0.5;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) usage("flag " + a + " needs a value");
        const std::string v = argv[++i];
        if (a == "--device") device_name = v;
        else if (a == "--dtype") dtype_name_arg = v;
        else if (a == "--min-seconds") min_seconds = std::atof(v.c_str());
        else usage("unknown flag " + a);
    }
    if (dtype_name_arg != "f32" && dtype_name_arg != "f64") usage("--dtype must be f32 or f64");
    if (!(min_seconds >= 0)) usage("--min-seconds must not be negative");
    const Device dev = Device::parse(device_name);
    const DType dt = dtype_name_arg == "f32" ? DType::f32 : DType::f64;

    Generator gen(7, 1);
    auto randn = [&](const Shape& s) { return normal(s, gen).to(dt).to(dev); };
    std::vector<Op> ops;

    for (std::int64_t n : {1024, 2048}) {
        const Tensor a = randn({n, n}), b = randn({n, n});
        char name[32];
        std::snprintf(name, sizeof name, "matmul %lld^3", (long long)n);
        ops.push_back({name, 2.0 * double(n) * n * n, [a, b] { return kernels::matmul(a, b); }});
    }
    // The MLP's batch-128 layer and its weight gradient.
    {
        const Tensor x = randn({128, 784}), w = randn({784, 512});
        ops.push_back({"matmul 128x784x512", 2.0 * 128 * 784 * 512, [x, w] { return kernels::matmul(x, w); }});
    }

    // alexnet_small's convolutions: 5x5, padding 2, 64 filters, at 28x28 (3 channels in) and 14x14.
    struct ConvShape {
        std::int64_t C, H;
    };
    for (const ConvShape cs : {ConvShape{3, 28}, ConvShape{64, 14}}) {
        const std::int64_t N = 128, K = 64, R = 5;
        kernels::Conv2dGeometry g;
        g.pad_h = g.pad_w = 2;
        const Tensor x = randn({N, cs.C, cs.H, cs.H}), w = randn({K, cs.C, R, R}), b = randn({K});
        const Tensor dy = randn({N, K, cs.H, cs.H});
        const double flops = 2.0 * double(N * K * cs.C * R * R * cs.H * cs.H);
        char buf[64];
        std::snprintf(buf, sizeof buf, " %lldx%lldx%lld^2 k5 ->64", (long long)N, (long long)cs.C, (long long)cs.H);
        const std::string tag = buf;
        ops.push_back({"conv2d forward" + tag, flops, [=] { return kernels::conv2d_forward(x, w, b, g); }});
        ops.push_back({"conv2d backward input" + tag, flops,
                       [=] { return kernels::conv2d_backward_input(dy, w, x.shape(), g); }});
        ops.push_back({"conv2d backward weight" + tag, flops,
                       [=] { return kernels::conv2d_backward_weight(dy, x, w.shape(), g); }});
        ops.push_back({"conv2d backward bias" + tag, 0, [=] { return kernels::conv2d_backward_bias(dy); }});
    }

    // BatchNorm, ReLU and max-pooling over a 128x64x28x28 feature map.
    {
        const Tensor x = randn({128, 64, 28, 28}), dy = randn({128, 64, 28, 28});
        const Tensor gamma = randn({64}), beta = randn({64});
        const auto fwd = kernels::batch_norm_forward_train(x, gamma, beta, 1e-5);
        ops.push_back({"batch_norm forward train 128x64x28^2", 0,
                       [=] { return kernels::batch_norm_forward_train(x, gamma, beta, 1e-5).y; }});
        ops.push_back({"batch_norm backward train 128x64x28^2", 0, [=] {
                           return kernels::batch_norm_backward_train(dy, x, fwd.mean, fwd.invstd, gamma, true, true, true).dx;
                       }});
        ops.push_back({"relu 128x64x28^2", 0, [=] { return kernels::unary(kernels::UnaryOp::relu, x); }});
        kernels::Pool2dGeometry pg;
        pg.kernel_h = pg.kernel_w = 3;
        pg.stride_h = pg.stride_w = 2;
        pg.pad_h = pg.pad_w = 1;
        ops.push_back({"max_pool2d 3x3/2 forward 128x64x28^2", 0, [=] { return kernels::max_pool2d_forward(x, pg).y; }});
    }
    // alexnet_small's local response norms (size 9) over its 14x14 maps.
    {
        const Tensor x = randn({128, 64, 14, 14}), dy = randn({128, 64, 14, 14});
        kernels::LrnParams lp;
        lp.size = 9, lp.alpha = 0.001, lp.beta = 0.75, lp.k = 1.0;
        const Tensor scale = kernels::local_response_norm_forward(x, lp).scale;
        ops.push_back({"local_response_norm forward 128x64x14^2", 0,
                       [=] { return kernels::local_response_norm_forward(x, lp).y; }});
        ops.push_back({"local_response_norm backward 128x64x14^2", 0,
                       [=] { return kernels::local_response_norm_backward(dy, x, scale, lp); }});
    }
    {
        const Tensor logits = randn({1000, 1000});
        const Tensor labels = randint({1000}, gen, 0, 1000).to(dev);
        ops.push_back({"softmax_cross_entropy 1000x1000", 0,
                       [=] { return kernels::softmax_cross_entropy(logits, labels).loss; }});
    }

    for (const Op& op : ops) {
        const double ms = time_ms(op, min_seconds);
        std::printf("{\"op\": \"%s\", \"device\": \"%s\", \"dtype\": \"%s\", \"ms\": %.6g", op.name.c_str(), dev.str().c_str(),
                    dtype_name_arg.c_str(), ms);
        if (op.flops > 0) std::printf(", \"gflops\": %.6g", op.flops / (ms * 1e6));
        std::printf("}\n");
        std::fflush(stdout);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const Error& e) {
        std::fprintf(stderr, "op_bench: %s\n", e.what());
        return 2;
    }
}
