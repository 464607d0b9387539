// train_bench: times one workload of the CPU benchmark (bench/run) and prints one JSON line:
// training steps (forward, per-example cross-entropy, mean, backward, SGD step) or inference
// (forward under NoGradGuard in eval mode) of the Zhang models on random data of the given shape.
//
//   train_bench --workload mlp_3x512 --mode train --batch 128 --shape 1,28,28 --steps 50 --warmup 5
//   train_bench --workload alexnet_small --device cuda      # the same on a GPU (scripts/gpu-check)
//
// Reported: examples/s over the timed steps, seconds (wall and CPU) per step, minor page faults
// per timed step (getrusage; the pooled allocator should keep this near 0), fresh allocations per
// timed step, the process's peak RSS, and the pooled allocator's peak bytes in use (what the work
// needed at once; RSS above it is blocks cached in size classes the work no longer asks for).
#include <omp.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "kernels/cuda_settings.h"
#include "nn/models.h"
#include "nn/optim.h"
#include "tensor/allocator.h"
#include "tensor/random.h"

using namespace gs;

namespace {

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr,
                 "train_bench: %s\nusage: train_bench --workload mlp_1x512|mlp_3x512|alexnet_small|inception_small|"
                 "inception_small_nobn --mode train|infer [--batch N] [--shape C,H,W] [--steps N] [--warmup N] [--threads N] "
                 "[--device cpu|cuda:N] [--cudnn-benchmark 0|1]\n",
                 why.c_str());
    std::exit(2);
}

long minor_faults() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_minflt;
}

// CPU seconds of all threads: on a machine shared with other jobs it is the work a step took,
// while wall time also counts the time spent waiting for a core.
double cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
}

long peak_rss_kb() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

}  // namespace

int run(int argc, char** argv) {
    std::string workload, mode = "train";
    std::int64_t batch = 128, steps = 30, warmup = 5;
    int threads = 0;
    std::string device_name = "cpu";
    std::vector<std::int64_t> shape{1, 28, 28};
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (i + 1 >= argc) usage("flag " + a + " needs a value");
        const std::string v = argv[++i];
        if (a == "--workload") workload = v;
        else if (a == "--mode") mode = v;
        else if (a == "--batch") batch = std::atoll(v.c_str());
        else if (a == "--steps") steps = std::atoll(v.c_str());
        else if (a == "--warmup") warmup = std::atoll(v.c_str());
        else if (a == "--threads") threads = std::atoi(v.c_str());
        else if (a == "--device") device_name = v;
        else if (a == "--cudnn-benchmark") {
            if (v != "0" && v != "1") usage("--cudnn-benchmark takes 0 or 1, got " + v);
            kernels::set_conv_benchmark(v == "1");
        }
        else if (a == "--shape") {
            shape.clear();
            for (std::size_t s = 0; s < v.size();) {
                const std::size_t c = v.find(',', s);
                shape.push_back(std::atoll(v.substr(s, c - s).c_str()));
                s = c == std::string::npos ? v.size() : c + 1;
            }
        } else usage("unknown flag " + a);
    }
    if (shape.size() != 3 || batch < 1 || steps < 1 || warmup < 0) usage("bad --shape, --batch, --steps or --warmup");
    if (mode != "train" && mode != "infer") usage("--mode must be train or infer");
    if (threads > 0) omp_set_num_threads(threads);

    Generator gen(1, 2);
    const std::int64_t C = shape[0], H = shape[1], W = shape[2], classes = 10;
    std::shared_ptr<nn::Module> model;
    if (workload == "mlp_1x512") model = nn::mlp(C * H * W, {512}, classes, gen);
    else if (workload == "mlp_3x512") model = nn::mlp(C * H * W, {512, 512, 512}, classes, gen);
    else if (workload == "alexnet_small") model = nn::alexnet_small(C, classes, gen);
    else if (workload == "inception_small") model = nn::inception_small(C, classes, true, gen);
    else if (workload == "inception_small_nobn") model = nn::inception_small(C, classes, false, gen);
    else usage("unknown workload " + workload);

    Device device;
    try {
        device = Device::parse(device_name);
    } catch (const Error& e) {
        usage(std::string("--device: ") + e.what());
    }
    // Drawn on the CPU and moved, so both devices time the same weights and data.
    model->to(device);
    const Tensor x = normal({batch, C, H, W}, gen).to(device);
    const Tensor y = randint({batch}, gen, 0, classes).to(device);
    nn::SgdOptions so;
    so.lr = 0.01;
    so.momentum = 0.9;
    nn::SGD opt(model->named_parameters(), so);
    if (mode == "infer") model->eval();

    // Returns the step's output (logits or loss); reading it on the CPU waits for a GPU to finish.
    auto step = [&] {
        if (mode == "infer") {
            autograd::NoGradGuard no_grad;
            return (*model)(autograd::Variable(x)).value();
        }
        autograd::Variable loss = autograd::mean(autograd::cross_entropy((*model)(autograd::Variable(x)), y));
        opt.zero_grad();
        loss.backward();
        opt.step();
        return loss.value();
    };
    for (std::int64_t i = 0; i < warmup; ++i) (void)step().to(Device::cpu());
    // The clock's first read faults in the vDSO's data page: done here, outside the count.
    (void)std::chrono::steady_clock::now();
    const long faults0 = minor_faults();
    const auto fresh0 = cpu_allocator::stats().fresh_allocations;
    const double cpu0 = cpu_seconds();
    const auto t0 = std::chrono::steady_clock::now();
    Tensor last;
    for (std::int64_t i = 0; i < steps; ++i) last = step();
    // On a GPU, the host's time to queue the steps. Well below seconds_per_step, the device is the
    // bottleneck; near it, either side may be, since the host blocks once CUDA's launch queue is
    // full (a kernel-time profile tells which).
    const double host = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    (void)last.to(Device::cpu());  // GPU work is asynchronous: the clock stops when the last step is done
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const double cpu = cpu_seconds() - cpu0;
    const long faults = minor_faults() - faults0;
    const auto fresh = cpu_allocator::stats().fresh_allocations - fresh0;
    std::printf("{\"workload\": \"%s\", \"mode\": \"%s\", \"device\": \"%s\", \"batch\": %lld, \"threads\": %d, "
                "\"steps\": %lld, \"examples_per_second\": %.6g, \"seconds_per_step\": %.6g, \"cpu_seconds_per_step\": %.6g, "
                "\"host_seconds_per_step\": %.6g, \"minor_faults_per_step\": %.6g, "
                "\"fresh_allocations_per_step\": %.6g, \"peak_rss_kb\": %ld, \"peak_in_use_kb\": %lld, \"cached_kb\": %lld}\n",
                workload.c_str(), mode.c_str(), device.str().c_str(), (long long)batch, omp_get_max_threads(),
                (long long)steps, double(batch * steps) / seconds, seconds / double(steps), cpu / double(steps),
                host / double(steps), double(faults) / double(steps), double(fresh) / double(steps), peak_rss_kb(),
                (long long)(cpu_allocator::stats().peak_bytes_in_use / 1024), (long long)(cpu_allocator::stats().bytes_cached / 1024));
    return 0;
}

int main(int argc, char** argv) {
    try {
        return run(argc, argv);
    } catch (const Error& e) {
        std::fprintf(stderr, "train_bench: %s\n", e.what());
        return 2;
    }
}
