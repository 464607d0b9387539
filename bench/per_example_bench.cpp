// Per-example gradient speed: per-example gradients/s (one forward + backward with a
// PerExampleCollector, then the (B, P) gradients materialized), the same in chunks of --chunk
// examples (memory bounded by the chunk, not by B x P), squared norms only, and the M-example Gram
// matrix (the kernel of a class-stiffness matrix), for the MLP 3x512 on 1x28x28 (Fashion-MNIST
// shape) and alexnet_small on 3x28x28, f32, random data. Each timing is the best of --reps runs
// after one warm-up run. --device cuda:N runs the same on a GPU (the composite per-example kernels;
// scripts/gpu-check), where the write-bandwidth fill below is not measured (null).
//
// Materializing (B, P) floats is bounded by the memory's write speed, so the bench also times a
// parallel fill of a warm (B, P) buffer (plain and non-temporal stores, the faster): B / that time
// is about the most per-example gradients/s any method that writes them all can reach here.
//
//   per_example_bench [--model mlp|alexnet_small|all] [--batch B] [--gram-examples M] [--chunk C]
//                     [--reps R] [--threads N] [--device cpu|cuda:N] [--json]
//
// --json prints one JSON line per model with the fields of bench/per_example_peer.py (bench/run
// interleaves the two).
#include <omp.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>

#include "autograd/loss.h"
#include "autograd/reduce.h"
#include "nn/models.h"
#include "nn/per_example.h"
#include "tensor/random.h"

using namespace gs;
using autograd::Variable;

namespace {

[[noreturn]] void usage(const std::string& why) {
    std::fprintf(stderr,
                 "per_example_bench: %s\nusage: per_example_bench [--model mlp|alexnet_small|all] [--batch B] "
                 "[--gram-examples M] [--chunk C] [--reps R] [--threads N] [--device cpu|cuda:N] [--json]\n",
                 why.c_str());
    std::exit(2);
}

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

double best_of(int reps, const std::function<void()>& f) {
    f();  // warm-up: scratch buffers and the allocator pool
    double best = 1e30;
    for (int r = 0; r < reps; ++r) {
        const double t0 = now();
        f();
        best = std::min(best, now() - t0);
    }
    return best;
}

// GPU work is asynchronous: reading one element of the last result waits for it.
void finish(const Tensor& t) {
    if (t.is_cuda() && t.numel() > 0) (void)t.reshape({-1}).narrow(0, 0, 1).to(Device::cpu());
}

// One forward + backward of the summed per-example losses with a collector; `query` reads it and
// returns its last result. parameter_grads = false: like PyTorch's per-sample methods, the pass
// forms no summed gradient.
void pass(nn::Module& net, const Tensor& x, const Tensor& y, const std::function<Tensor(nn::PerExampleCollector&)>& query) {
    nn::PerExampleOptions opt;
    opt.parameter_grads = false;
    nn::PerExampleCollector pe(net, opt);
    autograd::sum(autograd::cross_entropy(net.forward(Variable(x)), y)).backward();
    finish(query(pe));
    net.zero_grad();
}

// Seconds to write n floats into a warm buffer with all threads, the faster of plain and
// non-temporal stores (the kernels stream large per-example gradient matrices; which store kind
// is faster depends on the machine): the write-bandwidth floor of materializing n entries.
double fill_seconds(std::int64_t n, int reps) {
    Tensor buf = Tensor::empty({n});
    float* p = buf.data<float>();  // 64-byte aligned (the pooled allocator)
    float v = 0;
    double best = best_of(reps, [&] {
        v += 1;
#pragma omp parallel for schedule(static)
        for (std::int64_t i = 0; i < n; ++i) p[i] = v;
    });
#if defined(__SSE2__)
    best = std::min(best, best_of(reps, [&] {
        v += 1;
        const __m128 x = _mm_set1_ps(v);
#pragma omp parallel
        {
#pragma omp for schedule(static)
            for (std::int64_t i = 0; i < n / 4; ++i) _mm_stream_ps(p + 4 * i, x);
            _mm_sfence();
        }
        for (std::int64_t i = n / 4 * 4; i < n; ++i) p[i] = v;
    }));
#endif
    return best;
}

struct Options {
    std::string model = "all";
    std::int64_t batch = 128, gram_examples = 500, chunk = 16;
    int reps = 3;
    bool json = false;
    Device device = Device::cpu();
};

void bench_model(const std::string& name, nn::Module& net, const Shape& example, const Options& o) {
    const std::int64_t B = o.batch, M = o.gram_examples, P = net.num_parameters();
    Generator gen(5);
    Shape xs{B};
    xs.insert(xs.end(), example.begin(), example.end());
    const Tensor x = normal(xs, gen, 0, 1, DType::f32).to(o.device);
    const Tensor y = randint({B}, gen, 0, 10).to(o.device);
    const double t_plain = best_of(o.reps, [&] {
        const Variable loss = autograd::sum(autograd::cross_entropy(net.forward(Variable(x)), y));
        loss.backward();
        finish(loss.value());
        net.zero_grad();
    });
    const double t_grads = best_of(o.reps, [&] { pass(net, x, y, [](nn::PerExampleCollector& pe) { return pe.gradients(); }); });
    const double t_chunked = best_of(o.reps, [&] {
        pass(net, x, y, [&](nn::PerExampleCollector& pe) {
            Tensor last;
            for (std::int64_t b = 0; b < B; b += o.chunk) last = pe.gradients({}, b, std::min(B, b + o.chunk));
            return last;
        });
    });
    const double t_norms = best_of(o.reps, [&] { pass(net, x, y, [](nn::PerExampleCollector& pe) { return pe.squared_norms(); }); });
    // The fill bound is a CPU memory measurement (null on a GPU).
    const bool cpu = o.device.is_cpu();
    const double t_fill = cpu ? fill_seconds(B * P, o.reps) : 0.0;
    Shape ms{M};
    ms.insert(ms.end(), example.begin(), example.end());
    const Tensor xm = normal(ms, gen, 0, 1, DType::f32).to(o.device);
    const Tensor ym = randint({M}, gen, 0, 10).to(o.device);
    double t_gram_only = 1e30;  // the gram() call alone, best over the same runs
    const double t_gram = best_of(o.reps, [&] {
        pass(net, xm, ym, [&](nn::PerExampleCollector& pe) {
            const double t0 = now();
            const Tensor g = pe.gram();
            finish(g);
            t_gram_only = std::min(t_gram_only, now() - t0);
            return g;
        });
    });
    const double bytes = 4.0 * double(B) * double(P);
    if (o.json) {
        char fill[200] = "\"fill_seconds\": null, \"fill_bound_grads_per_second\": null, \"fill_gb_per_second\": null";
        if (cpu)
            std::snprintf(fill, sizeof fill,
                          "\"fill_seconds\": %.6g, \"fill_bound_grads_per_second\": %.6g, \"fill_gb_per_second\": %.6g", t_fill,
                          double(B) / t_fill, bytes / t_fill * 1e-9);
        std::printf("{\"model\": \"%s\", \"device\": \"%s\", \"parameters\": %lld, \"batch\": %lld, "
                    "\"gram_examples\": %lld, \"threads\": %d, "
                    "\"plain_seconds\": %.6g, \"grads_seconds\": %.6g, \"grads_per_second\": %.6g, \"chunk\": %lld, "
                    "\"chunked_grads_seconds\": %.6g, \"chunked_grads_per_second\": %.6g, \"norms_seconds\": %.6g, "
                    "\"norms_per_second\": %.6g, \"gram_seconds\": %.6g, \"gram_only_seconds\": %.6g, %s}\n",
                    name.c_str(), o.device.str().c_str(), (long long)P, (long long)B, (long long)M, omp_get_max_threads(),
                    t_plain, t_grads, double(B) / t_grads, (long long)o.chunk, t_chunked, double(B) / t_chunked, t_norms,
                    double(B) / t_norms, t_gram, t_gram_only, fill);
        std::fflush(stdout);
        return;
    }
    char fill[120] = "";
    if (cpu)
        std::snprintf(fill, sizeof fill, "; a bare fill of the (B, P) buffer: %.0f /s at %.1f GB/s", double(B) / t_fill,
                      bytes / t_fill * 1e-9);
    std::printf("%-14s P=%-8lld batch %lld: plain fwd+bwd %.3f s | per-example grads %.3f s = %.0f /s (chunks of %lld: %.0f "
                "/s%s) | norms only %.3f s = %.0f /s | Gram of %lld examples: fwd+bwd+Gram %.3f s, Gram alone %.3f s\n",
                name.c_str(), (long long)P, (long long)B, t_plain, t_grads, double(B) / t_grads, (long long)o.chunk,
                double(B) / t_chunked, fill, t_norms, double(B) / t_norms, (long long)M, t_gram, t_gram_only);
}

}  // namespace

int main(int argc, char** argv) {
    Options o;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) usage(a + " needs a value");
            return argv[++i];
        };
        auto positive = [&]() -> std::int64_t {
            const std::string v = value();
            char* end = nullptr;
            const long long n = std::strtoll(v.c_str(), &end, 10);
            if (v.empty() || *end != '\0' || n < 1) usage(a + ": expected a positive integer, got '" + v + "'");
            return n;
        };
        if (a == "--model") o.model = value();
        else if (a == "--batch") o.batch = positive();
        else if (a == "--gram-examples") o.gram_examples = positive();
        else if (a == "--chunk") o.chunk = positive();
        else if (a == "--reps") o.reps = int(positive());
        else if (a == "--threads") omp_set_num_threads(int(positive()));
        else if (a == "--json") o.json = true;
        else if (a == "--device") {
            const std::string v = value();
            try {
                o.device = Device::parse(v);
            } catch (const std::exception& e) {
                usage("--device: " + std::string(e.what()));
            }
        } else usage("unknown argument '" + a + "'");
    }
    if (o.model != "all" && o.model != "mlp" && o.model != "alexnet_small")
        usage("--model: mlp, alexnet_small or all, got '" + o.model + "'");
    try {
        if (!o.json) std::printf("threads: %d, device %s\n", omp_get_max_threads(), o.device.str().c_str());
        Generator gen(1);
        // Drawn on the CPU and moved, so both devices time the same weights and data.
        if (o.model != "alexnet_small") {
            auto mlp = nn::mlp(28 * 28, {512, 512, 512}, 10, gen);
            mlp->to(o.device);
            bench_model(o.json ? "mlp" : "mlp 3x512", *mlp, {1, 28, 28}, o);
        }
        if (o.model != "mlp") {
            auto alex = nn::alexnet_small(3, 10, gen);
            alex->to(o.device);
            bench_model("alexnet_small", *alex, {3, 28, 28}, o);
        }
    } catch (const std::exception& e) {  // e.g. a CUDA device this build or machine does not have
        std::fprintf(stderr, "per_example_bench: %s\n", e.what());
        return 1;
    }
    return 0;
}
