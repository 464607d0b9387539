// conv_bench: times the CPU conv2d kernels (forward, backward input, backward weight) on the
// convolution layers of the benchmark models (alexnet_small, inception_small at batch 128,
// 3x28x28) and prints one JSON line per layer with the median milliseconds of each.
// bench/conv_peer.py prints the same for PyTorch, so the two can be run interleaved and compared
// layer by layer.
//
//   conv_bench [--model alexnet|inception|all] [--batch N] [--repeats R] [--threads T] [--dtype f32|f64]
//               [--cpu-time 1] (CPU time of all threads instead of wall time) [--min 1] (fastest, not median)
//               [--winograd 0] (the Winograd layers, unit-stride 3x3 and 5x5, through im2col instead)
//               [--per-example 1] (also the per-example weight gradients (B, K, C, R, S) of each layer,
//               written into one warm buffer: compare with bwd_weight_ms, which sums them)
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "kernels/per_example.h"
#include "tensor/random.h"

using namespace gs;
using i64 = std::int64_t;

namespace {

struct Layer {
    const char* model;
    const char* name;
    i64 C, H, K, R, stride;
    bool need_dx;  // the first layer of a model needs no input gradient
};

// alexnet_small on 3x28x28 and inception_small (nn/models.cpp), padding R/2 everywhere.
const std::vector<Layer> kLayers = {
    {"alexnet", "conv1 3->64 5x5 @28", 3, 28, 64, 5, 1, false},
    {"alexnet", "conv2 64->64 5x5 @14", 64, 14, 64, 5, 1, true},
    {"inception", "stem 3->96 3x3 @28", 3, 28, 96, 3, 1, false},
    {"inception", "1x1 96->32 @28", 96, 28, 32, 1, 1, true},
    {"inception", "3x3 96->32 @28", 96, 28, 32, 3, 1, true},
    {"inception", "1x1 64->32 @28", 64, 28, 32, 1, 1, true},
    {"inception", "3x3 64->48 @28", 64, 28, 48, 3, 1, true},
    {"inception", "3x3 s2 80->80 @28", 80, 28, 80, 3, 2, true},
    {"inception", "1x1 160->112 @14", 160, 14, 112, 1, 1, true},
    {"inception", "3x3 160->48 @14", 160, 14, 48, 3, 1, true},
    {"inception", "1x1 160->96 @14", 160, 14, 96, 1, 1, true},
    {"inception", "3x3 160->64 @14", 160, 14, 64, 3, 1, true},
    {"inception", "1x1 160->80 @14", 160, 14, 80, 1, 1, true},
    {"inception", "3x3 160->80 @14", 160, 14, 80, 3, 1, true},
    {"inception", "1x1 160->48 @14", 160, 14, 48, 1, 1, true},
    {"inception", "3x3 160->96 @14", 160, 14, 96, 3, 1, true},
    {"inception", "3x3 s2 144->96 @14", 144, 14, 96, 3, 2, true},
    {"inception", "1x1 240->176 @7", 240, 7, 176, 1, 1, true},
    {"inception", "3x3 240->160 @7", 240, 7, 160, 3, 1, true},
    {"inception", "1x1 336->176 @7", 336, 7, 176, 1, 1, true},
    {"inception", "3x3 336->160 @7", 336, 7, 160, 3, 1, true},
};

// CPU milliseconds used by the whole process (all threads): on a loaded machine this is the
// work done, while wall time also counts time spent preempted.
double cpu_ms() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return 1e3 * double(ts.tv_sec) + 1e-6 * double(ts.tv_nsec);
}

bool g_cpu_time = false;
bool g_min = false;  // the fastest run instead of the median: less sensitive to other jobs

// Median wall (or, with --cpu-time, CPU) milliseconds of f over `repeats` runs after one warm-up.
template <class F>
double median_ms(int repeats, F f) {
    std::vector<double> t;
    f();  // warm-up: scratch buffers grow here
    for (int i = 0; i < repeats; ++i) {
        const auto t0 = std::chrono::steady_clock::now();
        const double c0 = cpu_ms();
        f();
        const auto wall = std::chrono::steady_clock::now() - t0;
        t.push_back(g_cpu_time ? cpu_ms() - c0 : std::chrono::duration<double, std::milli>(wall).count());
    }
    std::sort(t.begin(), t.end());
    return g_min ? t.front() : t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
    std::string model = "all", dtype = "f32";
    i64 batch = 128;
    int repeats = 5, threads = 0;
    bool per_example = false;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string a = argv[i], v = argv[i + 1];
        if (a == "--model") model = v;
        else if (a == "--batch") batch = std::atoll(v.c_str());
        else if (a == "--repeats") repeats = std::atoi(v.c_str());
        else if (a == "--threads") threads = std::atoi(v.c_str());
        else if (a == "--dtype") dtype = v;
        else if (a == "--cpu-time") g_cpu_time = v == "1";
        else if (a == "--min") g_min = v == "1";
        else if (a == "--winograd") kernels::cpu::set_conv2d_winograd(v != "0");
        else if (a == "--per-example") per_example = v == "1";
        else {
            std::fprintf(stderr, "conv_bench: unknown flag %s\n", a.c_str());
            return 2;
        }
    }
    if (threads > 0) omp_set_num_threads(threads);
    const DType dt = dtype == "f64" ? DType::f64 : DType::f32;
    Generator gen(3);
    double total[4] = {0, 0, 0, 0};
    for (const Layer& l : kLayers) {
        if (model != "all" && model != l.model) continue;
        kernels::Conv2dGeometry g;
        g.stride_h = g.stride_w = l.stride;
        g.pad_h = g.pad_w = l.R / 2;
        const Tensor x = normal({batch, l.C, l.H, l.H}, gen, 0.0, 1.0, dt);
        const Tensor w = normal({l.K, l.C, l.R, l.R}, gen, 0.0, 0.1, dt);
        const Tensor b = normal({l.K}, gen, 0.0, 0.1, dt);
        const Tensor y = kernels::conv2d_forward(x, w, b, g);
        const Tensor dy = normal(y.shape(), gen, 0.0, 1.0, dt);
        const double f = median_ms(repeats, [&] { (void)kernels::conv2d_forward(x, w, b, g); });
        const double bi =
            l.need_dx ? median_ms(repeats, [&] { (void)kernels::conv2d_backward_input(dy, w, x.shape(), g); }) : 0.0;
        const double bw = median_ms(repeats, [&] { (void)kernels::conv2d_backward_weight(dy, x, w.shape(), g); });
        double pe = 0.0;
        if (per_example) {
            Tensor rows = Tensor::empty({batch, w.numel()}, dt);
            pe = median_ms(repeats, [&] { kernels::conv2d_per_example_grad_weight_into(x, dy, w.shape(), g, rows); });
        }
        total[0] += f, total[1] += bi, total[2] += bw, total[3] += pe;
        std::printf("{\"layer\": \"%s\", \"fwd_ms\": %.3f, \"bwd_input_ms\": %.3f, \"bwd_weight_ms\": %.3f", l.name, f,
                    bi, bw);
        if (per_example) std::printf(", \"per_example_weight_ms\": %.3f", pe);
        std::printf("}\n");
    }
    std::printf("{\"layer\": \"total\", \"fwd_ms\": %.3f, \"bwd_input_ms\": %.3f, \"bwd_weight_ms\": %.3f", total[0],
                total[1], total[2]);
    if (per_example) std::printf(", \"per_example_weight_ms\": %.3f", total[3]);
    std::printf("}\n");
    return 0;
}
