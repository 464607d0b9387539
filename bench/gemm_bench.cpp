// CPU GEMM throughput: our sgemm/dgemm against OpenBLAS (when a shared OpenBLAS can be dlopen'ed;
// there is no build-time dependency) and against the machine's FMA peak.
//
// Shapes: 1024^3 and 2048^3, and the batch-128 MLP layers (784-512-512-10) as the training step
// runs them: forward y = x W^T (NT), backward dx = dy W (NN), dW^T = x^T dy (TN).
// Each sample runs a shape back to back for >= --sample-ms (after 100 ms of un-timed calls) and
// counts the mean; a shape reports the median over --repeats samples. Ours and OpenBLAS alternate
// sample by sample (A, B, A, B) so that load from other processes hits both alike, and the ratio is
// of the two medians.
//
// NOTE: OPENBLAS_CORETYPE forces OpenBLAS's kernel choice (Haswell = AVX2 kernels even on an
// AVX-512 CPU); run with `env -u OPENBLAS_CORETYPE` for its best. The value is printed.
//
// On a shared machine compare OMP_WAIT_POLICY=passive too (see the note in main).
//
// Usage: gemm_bench [--repeats R] [--sample-ms S] [--threads T] [--isa avx512|avx2|generic]
//                   [--no-openblas] [--shapes large|mlp|all]
#include <dlfcn.h>
#include <immintrin.h>
#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "kernels/gemm.h"
#include "tensor/error.h"

namespace {

using i64 = std::int64_t;
using gs::kernels::cpu::GemmIsa;

double now() { return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count(); }

// CPU seconds used by the whole process (all threads). Time spent preempted by other jobs is not
// in it, so flops / (cpu / threads) is what the threads would do on cores of their own.
double cpu_now() {
    timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---- OpenBLAS through dlopen ----------------------------------------------------------------------

enum CblasOrder { CblasRowMajor = 101 };
enum CblasTranspose { CblasNoTrans = 111, CblasTrans = 112 };
using SgemmFn = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*,
                         int);
using DgemmFn = void (*)(int, int, int, int, int, int, double, const double*, int, const double*, int, double,
                         double*, int);

struct OpenBlas {
    void* handle = nullptr;
    std::string path;
    SgemmFn sgemm = nullptr;
    DgemmFn dgemm = nullptr;
    void (*set_num_threads)(int) = nullptr;
    char* (*get_config)() = nullptr;
    char* (*get_corename)() = nullptr;

    bool load() {
        for (const char* name : {"libopenblas.so.0", "libopenblasp.so.0", "libopenblas.so",
                                 "/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblas.so.0",
                                 "/usr/lib/x86_64-linux-gnu/openblas-pthread/libblas.so.3"}) {
            handle = dlopen(name, RTLD_NOW | RTLD_LOCAL);
            if (!handle) continue;
            sgemm = reinterpret_cast<SgemmFn>(dlsym(handle, "cblas_sgemm"));
            dgemm = reinterpret_cast<DgemmFn>(dlsym(handle, "cblas_dgemm"));
            set_num_threads = reinterpret_cast<void (*)(int)>(dlsym(handle, "openblas_set_num_threads"));
            get_config = reinterpret_cast<char* (*)()>(dlsym(handle, "openblas_get_config"));
            get_corename = reinterpret_cast<char* (*)()>(dlsym(handle, "openblas_get_corename"));
            // A reference BLAS also has cblas_sgemm; only OpenBLAS has the openblas_* functions.
            if (sgemm && dgemm && set_num_threads) {
                path = name;
                return true;
            }
            dlclose(handle);
            handle = nullptr;
        }
        return false;
    }
};

// ---- FMA peak ----------------------------------------------------------------------------------------

// 12 independent FMA chains (more than FMA latency x FMA pipes) and no memory traffic: the core's
// FMA throughput. Returns a value that depends on every chain so nothing is optimized away.
__attribute__((target("avx2,fma"))) float fma_loop_avx2(i64 iters) {
    constexpr int chains = 12;
    __m256 acc[chains];
    const __m256 x = _mm256_set1_ps(1e-3f), y = _mm256_set1_ps(0.999f);
#pragma GCC unroll 16
    for (int c = 0; c < chains; ++c) acc[c] = _mm256_set1_ps(float(c));
    for (i64 i = 0; i < iters; ++i)
#pragma GCC unroll 16
        for (int c = 0; c < chains; ++c) acc[c] = _mm256_fmadd_ps(acc[c], y, x);
    __m256 s = acc[0];
#pragma GCC unroll 16
    for (int c = 1; c < chains; ++c) s = _mm256_add_ps(s, acc[c]);
    return _mm256_cvtss_f32(s);
}

__attribute__((target("avx512f"))) float fma_loop_avx512(i64 iters) {
    constexpr int chains = 12;
    __m512 acc[chains];
    const __m512 x = _mm512_set1_ps(1e-3f), y = _mm512_set1_ps(0.999f);
#pragma GCC unroll 16
    for (int c = 0; c < chains; ++c) acc[c] = _mm512_set1_ps(float(c));
    for (i64 i = 0; i < iters; ++i)
#pragma GCC unroll 16
        for (int c = 0; c < chains; ++c) acc[c] = _mm512_fmadd_ps(acc[c], y, x);
    __m512 s = acc[0];
#pragma GCC unroll 16
    for (int c = 1; c < chains; ++c) s = _mm512_add_ps(s, acc[c]);
    alignas(64) float lanes[16];
    _mm512_store_ps(lanes, s);
    return lanes[0] + lanes[15];
}

struct Rate {
    double wall, cpu;  // GFLOP/s by wall-clock time, and by CPU time per thread
};

// GFLOP/s of `threads` threads running the FMA loop at once (medians of 5).
Rate fma_peak(bool avx512, int threads) {
    const i64 iters = 20'000'000;
    const double flops = 12.0 * (avx512 ? 16 : 8) * 2 * double(iters) * threads;
    std::vector<double> wall, cpu;
    volatile float sink = 0;
    for (int r = 0; r < 5; ++r) {
        const double t0 = now(), c0 = cpu_now();
#pragma omp parallel num_threads(threads)
        {
            const float v = avx512 ? fma_loop_avx512(iters) : fma_loop_avx2(iters);
#pragma omp critical
            sink = sink + v;
        }
        wall.push_back(flops / (now() - t0) * 1e-9);
        cpu.push_back(flops / ((cpu_now() - c0) / threads) * 1e-9);
    }
    return {median(wall), median(cpu)};
}

// ---- GEMM timing -----------------------------------------------------------------------------------

struct Shape {
    const char* name;
    bool ta, tb;
    i64 M, N, K;
};

std::vector<float> random_vector_f(std::size_t n, unsigned seed) {
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> dist(-1.f, 1.f);
    std::vector<float> v(n);
    for (auto& x : v) x = dist(rng);
    return v;
}

// Un-timed calls before every sample. After the idle gap between samples (the other library's
// sample, the sleeps below), the first tens of milliseconds of calls on this VM ran at 60-70% of
// the speed that follows (our MLP shapes: 40 against 60-65 GFLOP/s wall), and the side that went
// second in a pair lost most; 100 ms of calls brought both sides to their steady rate.
constexpr double kWarmSeconds = 0.1;

// GFLOP/s over one sample of >= sample_s (at least 2 calls), after kWarmSeconds of calls.
template <class F>
Rate sample(F call, double flops, int threads, double sample_s) {
    for (const double w0 = now(); now() - w0 < kWarmSeconds;) call();
    int n = 0;
    const double t0 = now(), c0 = cpu_now();
    double t = t0;
    do {
        call();
        ++n;
        t = now();
    } while (n < 2 || t - t0 < sample_s);
    return {flops * n / (t - t0) * 1e-9, flops * n / ((cpu_now() - c0) / threads) * 1e-9};
}

template <class T>
void run_shape(const Shape& s, const OpenBlas* ob, int threads, int repeats, double sample_s) {
    const i64 lda = s.ta ? s.M : s.K, ldb = s.tb ? s.K : s.N;
    std::vector<T> A(std::size_t(s.M * s.K)), B(std::size_t(s.K * s.N)), C(std::size_t(s.M * s.N));
    {
        auto a = random_vector_f(A.size(), 1), b = random_vector_f(B.size(), 2);
        std::copy(a.begin(), a.end(), A.begin());
        std::copy(b.begin(), b.end(), B.begin());
    }
    auto ours = [&] {
        gs::kernels::gemm<T>(s.ta, s.tb, s.M, s.N, s.K, T(1), A.data(), lda, B.data(), ldb, T(0), C.data(), s.N);
    };
    auto theirs = [&] {
        const int ta = s.ta ? CblasTrans : CblasNoTrans, tb = s.tb ? CblasTrans : CblasNoTrans;
        if constexpr (sizeof(T) == 4)
            ob->sgemm(CblasRowMajor, ta, tb, int(s.M), int(s.N), int(s.K), 1.f, A.data(), int(lda), B.data(),
                      int(ldb), 0.f, C.data(), int(s.N));
        else
            ob->dgemm(CblasRowMajor, ta, tb, int(s.M), int(s.N), int(s.K), 1.0, A.data(), int(lda), B.data(),
                      int(ldb), 0.0, C.data(), int(s.N));
    };
    const double flops = 2.0 * double(s.M) * double(s.N) * double(s.K);
    ours();  // warm-up: scratch buffers grow, pages fault in, threads start
    if (ob) theirs();
    std::vector<double> ours_wall, ours_cpu, ob_wall, ob_cpu;
    for (int r = 0; r < repeats; ++r) {
        const Rate a = sample(ours, flops, threads, sample_s);
        ours_wall.push_back(a.wall);
        ours_cpu.push_back(a.cpu);
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        if (ob) {
            const Rate b = sample(theirs, flops, threads, sample_s);
            ob_wall.push_back(b.wall);
            ob_cpu.push_back(b.cpu);
            // NOTE: idle OpenBLAS workers keep polling (sched_yield) for ~2^28 cycles after a call;
            // wait that out so they neither slow down nor bill CPU time to our next sample.
            std::this_thread::sleep_for(std::chrono::milliseconds(150));
        }
    }
    char dims[64];
    std::snprintf(dims, sizeof(dims), "%s%s %lldx%lldx%lld", s.ta ? "T" : "N", s.tb ? "T" : "N", (long long)s.M,
                  (long long)s.N, (long long)s.K);
    const double ow = median(ours_wall), oc = median(ours_cpu);
    if (ob) {
        const double bw = median(ob_wall), bc = median(ob_cpu);
        std::printf("%-4s %-20s %-17s | %7.1f %7.1f %6.2fx | %7.1f %7.1f %6.2fx\n", sizeof(T) == 4 ? "f32" : "f64",
                    s.name, dims, ow, bw, ow / bw, oc, bc, oc / bc);
    } else {
        std::printf("%-4s %-20s %-17s | %7.1f %7s %7s | %7.1f %7s %7s\n", sizeof(T) == 4 ? "f32" : "f64", s.name,
                    dims, ow, "-", "-", oc, "-", "-");
    }
    std::fflush(stdout);
}

}  // namespace

int run_bench(int argc, char** argv) {
    int repeats = 9;
    double sample_ms = 60;
    int threads = omp_get_max_threads();
    bool use_openblas = true;
    std::string shapes = "all";
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) {
                std::fprintf(stderr, "%s needs a value\n", arg.c_str());
                std::exit(2);
            }
            return argv[++i];
        };
        if (arg == "--repeats") repeats = std::stoi(value());
        else if (arg == "--sample-ms") sample_ms = std::stod(value());
        else if (arg == "--threads") threads = std::stoi(value());
        else if (arg == "--no-openblas") use_openblas = false;
        else if (arg == "--shapes") shapes = value();
        else if (arg == "--isa") {
            const std::string isa = value();
            bool found = false;
            for (GemmIsa g : {GemmIsa::generic, GemmIsa::avx2, GemmIsa::avx512})
                if (isa == gs::kernels::cpu::gemm_isa_name(g)) {
                    gs::kernels::cpu::set_gemm_isa(g);
                    found = true;
                }
            if (!found) {
                std::fprintf(stderr, "unknown --isa %s\n", isa.c_str());
                return 2;
            }
        } else {
            std::fprintf(stderr,
                         "usage: gemm_bench [--repeats R] [--sample-ms S] [--threads T] [--isa avx512|avx2|generic] "
                         "[--no-openblas] [--shapes large|mlp|all]\n");
            return 2;
        }
    }
    omp_set_num_threads(threads);

    std::printf("gemm_bench: %d threads, our kernels: %s (avx512 %s, avx2 %s on this CPU)\n", threads,
                gs::kernels::cpu::gemm_isa_name(gs::kernels::cpu::gemm_isa()),
                gs::kernels::cpu::gemm_isa_supported(GemmIsa::avx512) ? "yes" : "no",
                gs::kernels::cpu::gemm_isa_supported(GemmIsa::avx2) ? "yes" : "no");
    const char* wait_policy = std::getenv("OMP_WAIT_POLICY");
    // NOTE: libgomp's default wait policy spins between and at the end of parallel regions; on a
    // machine with more runnable jobs than cores the spinning thread burns the time slice its partner
    // needs, and 2-thread gemm on skinny shapes can run slower than 1 thread. passive sleeps instead.
    std::printf("OMP_WAIT_POLICY=%s\n", wait_policy ? wait_policy : "(unset: libgomp spins, then sleeps)");
    const char* coretype = std::getenv("OPENBLAS_CORETYPE");
    OpenBlas ob;
    const bool have_ob = use_openblas && ob.load();
    if (have_ob) {
        ob.set_num_threads(threads);
        std::printf("openblas: %s, core %s, config \"%s\", OPENBLAS_CORETYPE=%s\n", ob.path.c_str(),
                    ob.get_corename ? ob.get_corename() : "?", ob.get_config ? ob.get_config() : "?",
                    coretype ? coretype : "(unset)");
        if (coretype) std::printf("NOTE: OPENBLAS_CORETYPE is set; `env -u OPENBLAS_CORETYPE` lets OpenBLAS pick its best kernels\n");
    } else if (use_openblas) {
        std::printf("openblas: not found (tried libopenblas.so.0, libopenblasp.so.0, openblas-pthread/libblas.so.3): "
                    "our numbers only\n");
    }

    const Rate p2 = fma_peak(false, threads);
    std::printf("fma peak, %d threads: avx2 %.1f GFLOP/s wall, %.1f by CPU time", threads, p2.wall, p2.cpu);
    if (__builtin_cpu_supports("avx512f")) {
        const Rate p5 = fma_peak(true, threads);
        std::printf("; avx512 %.1f wall, %.1f by CPU time\n", p5.wall, p5.cpu);
    } else {
        std::printf("; avx512: not available on this CPU\n");
    }

    std::printf("\nGFLOP/s, medians of %d samples of >= %.0f ms, ours and OpenBLAS alternating. 'wall' is elapsed\n"
                "time; 'cpu' divides by the process's CPU time per thread, i.e. excludes time preempted by other jobs.\n",
                repeats, sample_ms);
    std::printf("%-4s %-20s %-17s | %7s %7s %7s | %7s %7s %7s\n", "", "shape", "op MxNxK", "ours", "openblas", "ratio",
                "ours", "openblas", "ratio");
    std::printf("%-4s %-20s %-17s | %23s | %23s\n", "", "", "", "wall", "cpu");
    const Shape large[] = {{"1024^3", false, false, 1024, 1024, 1024},
                           {"2048^3", false, false, 2048, 2048, 2048}};
    const Shape mlp[] = {{"fwd 784->512", false, true, 128, 512, 784},
                         {"fwd 512->512", false, true, 128, 512, 512},
                         {"fwd 512->10", false, true, 128, 10, 512},
                         {"bwd dx 512->784", false, false, 128, 784, 512},
                         {"bwd dx 512->512", false, false, 128, 512, 512},
                         {"bwd dx 10->512", false, false, 128, 512, 10},
                         {"bwd dW 784x512", true, false, 784, 512, 128},
                         {"bwd dW 512x512", true, false, 512, 512, 128},
                         {"bwd dW 512x10", true, false, 512, 10, 128}};
    const double sample_s = sample_ms * 1e-3;
    const OpenBlas* obp = have_ob ? &ob : nullptr;
    if (shapes == "all" || shapes == "large") {
        for (const Shape& s : large) run_shape<float>(s, obp, threads, repeats, sample_s);
        run_shape<double>(large[0], obp, threads, repeats, sample_s);
    }
    if (shapes == "all" || shapes == "mlp")
        for (const Shape& s : mlp) run_shape<float>(s, obp, threads, repeats, sample_s);
    return 0;
}

int main(int argc, char** argv) {
    try {
        return run_bench(argc, argv);
    } catch (const gs::Error& e) {  // e.g. GRADSCOPE_GEMM_ISA naming an ISA this CPU lacks
        std::fprintf(stderr, "gemm_bench: %s\n", e.what());
        return 1;
    }
}
