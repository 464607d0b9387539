// The CUDA numerics flags: atomics so that a setter on one thread is seen by ops on another.
#include "kernels/cuda_settings.h"

#include <atomic>

namespace gs::kernels {
namespace {
std::atomic<bool> g_allow_tf32{false};
std::atomic<bool> g_deterministic{false};
std::atomic<bool> g_conv_benchmark{false};
}  // namespace

void set_allow_tf32(bool allow) { g_allow_tf32.store(allow); }
bool allow_tf32() { return g_allow_tf32.load(); }
void set_deterministic(bool deterministic) { g_deterministic.store(deterministic); }
bool deterministic() { return g_deterministic.load(); }
void set_conv_benchmark(bool benchmark) { g_conv_benchmark.store(benchmark); }
bool conv_benchmark() { return g_conv_benchmark.load(); }

}  // namespace gs::kernels
