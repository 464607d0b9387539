// Per-example gradient speed: per-example gradients/s (one forward + backward with a
// PerExampleCollector, then the (B, P) gradients materialized), the same for squared norms only,
// and the 500-example Gram matrix (the kernel of a class-stiffness matrix), for the MLP 3x512 on
// 1x28x28 (Fashion-MNIST shape) and alexnet_small on 3x28x28, f32, random data. Each timing is the
// best of --reps runs after one warm-up run.
//
// Usage: per_example_bench [--batch B] [--gram-examples M] [--reps R]
#include <omp.h>

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

// One forward + backward of the summed per-example losses with a collector; `query` reads it.
void pass(nn::Module& net, const Tensor& x, const Tensor& y, const std::function<void(nn::PerExampleCollector&)>& query) {
    nn::PerExampleCollector pe(net);
    autograd::sum(autograd::cross_entropy(net.forward(Variable(x)), y)).backward();
    query(pe);
    net.zero_grad();
}

void bench_model(const std::string& name, nn::Module& net, const Shape& example, std::int64_t B, std::int64_t M, int reps) {
    Generator gen(5);
    Shape xs{B};
    xs.insert(xs.end(), example.begin(), example.end());
    const Tensor x = normal(xs, gen, 0, 1, DType::f32);
    const Tensor y = randint({B}, gen, 0, 10);
    const double t_plain = best_of(reps, [&] {
        autograd::sum(autograd::cross_entropy(net.forward(Variable(x)), y)).backward();
        net.zero_grad();
    });
    const double t_grads = best_of(reps, [&] { pass(net, x, y, [](nn::PerExampleCollector& pe) { (void)pe.gradients(); }); });
    const double t_norms = best_of(reps, [&] { pass(net, x, y, [](nn::PerExampleCollector& pe) { (void)pe.squared_norms(); }); });
    Shape ms{M};
    ms.insert(ms.end(), example.begin(), example.end());
    const Tensor xm = normal(ms, gen, 0, 1, DType::f32);
    const Tensor ym = randint({M}, gen, 0, 10);
    double t_gram_only = 1e30;  // the gram() call alone, best over the same runs
    const double t_gram = best_of(reps, [&] {
        pass(net, xm, ym, [&](nn::PerExampleCollector& pe) {
            const double t0 = now();
            (void)pe.gram();
            t_gram_only = std::min(t_gram_only, now() - t0);
        });
    });
    std::printf("%-14s P=%-8lld batch %lld: plain fwd+bwd %.3f s | per-example grads %.3f s = %.0f /s | norms only %.3f s = "
                "%.0f /s | Gram of %lld examples: fwd+bwd+Gram %.3f s, Gram alone %.3f s\n",
                name.c_str(), (long long)net.num_parameters(), (long long)B, t_plain, t_grads, double(B) / t_grads, t_norms,
                double(B) / t_norms, (long long)M, t_gram, t_gram_only);
}

}  // namespace

int main(int argc, char** argv) {
    std::int64_t B = 128, M = 500;
    int reps = 3;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "--batch" && i + 1 < argc) B = std::atol(argv[++i]);
        else if (a == "--gram-examples" && i + 1 < argc) M = std::atol(argv[++i]);
        else if (a == "--reps" && i + 1 < argc) reps = std::atoi(argv[++i]);
        else {
            std::fprintf(stderr, "usage: per_example_bench [--batch B] [--gram-examples M] [--reps R]\n");
            return 2;
        }
    }
    std::printf("threads: %d\n", omp_get_max_threads());
    Generator gen(1);
    auto mlp = nn::mlp(28 * 28, {512, 512, 512}, 10, gen);
    bench_model("mlp 3x512", *mlp, {1, 28, 28}, B, M, reps);
    auto alex = nn::alexnet_small(3, 10, gen);
    bench_model("alexnet_small", *alex, {3, 28, 28}, B, M, reps);
    return 0;
}
