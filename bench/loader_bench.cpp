// Loader throughput on a CIFAR-sized synthetic dataset (50000 x 3 x 32 x 32 u8) with Zhang et al.'s
// pipeline (random crop 28, /255, per-image whitening), batch 128.
//
// Two measurements:
//   1. throughput: the consumer does nothing, so it always outruns the worker; images/s is the
//      loader's ceiling (the consumer waits on nearly every batch, as it must).
//   2. fed: the consumer spends --step-ms per batch (a sleep standing in for a training step);
//      after the first batch it should never wait if the loader keeps up.
//
// Usage: loader_bench [--threads T] [--epochs E] [--step-ms S] [--prefetch P]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

#include "data/loader.h"
#include "tensor/random.h"

namespace {

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

}  // namespace

int main(int argc, char** argv) {
    int threads = 2;
    int epochs = 2;
    double step_ms = 5.0;
    long prefetch = 8;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        const bool has_value = i + 1 < argc;
        if (a == "--threads" && has_value) threads = std::atoi(argv[++i]);
        else if (a == "--epochs" && has_value) epochs = std::atoi(argv[++i]);
        else if (a == "--step-ms" && has_value) step_ms = std::atof(argv[++i]);
        else if (a == "--prefetch" && has_value) prefetch = std::atol(argv[++i]);
        else {
            std::fprintf(stderr, "loader_bench: unknown flag %s\nusage: loader_bench [--threads T] [--epochs E] "
                                 "[--step-ms S] [--prefetch P]\n", a.c_str());
            return 2;
        }
    }

    using namespace gs;
    const std::int64_t N = 50000, B = 128;
    Generator g(1);
    const Tensor images = randint({N, 3, 32, 32}, g, 0, 256, DType::u8);
    const Tensor labels = randint({N}, g, 0, 10);

    data::LoaderOptions opt;
    opt.batch_size = B;
    opt.seed = 7;
    opt.threads = threads;
    opt.prefetch = prefetch;
    opt.transform = data::zhang_pipeline(/*random_crop=*/true, 28);

    // 1. Throughput with an idle consumer.
    double images_per_s = 0;
    data::LoaderStats s1;
    {
        data::Loader loader(images, labels, opt);
        loader.next();  // warm-up: thread start, first allocations
        const std::int64_t batches = epochs * loader.batches_per_epoch();
        std::int64_t count = 0;
        const double t0 = now();
        for (std::int64_t b = 0; b < batches; ++b) count += loader.next().labels.numel();
        const double dt = now() - t0;
        images_per_s = double(count) / dt;
        s1 = loader.stats();
        std::printf("throughput: %lld images in %.3f s = %.0f images/s (%.3f ms per batch of %lld); "
                    "idle consumer waited %lld of %lld times\n",
                    (long long)count, dt, images_per_s, 1e3 * dt / double(batches), (long long)B,
                    (long long)s1.waits, (long long)s1.batches);
    }

    // 2. A consumer that spends step_ms per batch.
    {
        data::Loader loader(images, labels, opt);
        auto step = [&] { std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(step_ms)); };
        loader.next();  // the first batch always waits (the worker has just started); then its step
        step();
        const data::LoaderStats before = loader.stats();
        const std::int64_t batches = loader.batches_per_epoch();
        const double t0 = now();
        for (std::int64_t b = 0; b < batches; ++b) {
            loader.next();
            step();
        }
        const double dt = now() - t0;
        const data::LoaderStats s2 = loader.stats();
        const std::int64_t waits = s2.waits - before.waits;
        std::printf("fed: consumer step %.1f ms, %lld batches in %.3f s; consumer waited %lld times (%.3f s total) "
                    "after the first batch: %s\n",
                    step_ms, (long long)batches, dt, (long long)waits, s2.wait_seconds - before.wait_seconds, waits == 0 ? "never" : "YES");
    }
    std::printf("{\"images_per_s\": %.0f, \"threads\": %d, \"batch\": %lld, \"pipeline\": \"%s\"}\n", images_per_s,
                threads, (long long)B, opt.transform.describe().c_str());
    return 0;
}
