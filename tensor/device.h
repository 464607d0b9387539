#pragma once
// Where a tensor lives: the CPU or one CUDA device.
#include <cstdint>
#include <string>

namespace gs {

struct Device {
    enum class Kind { cpu, cuda };
    Kind kind = Kind::cpu;
    int index = 0;

    static Device cpu() { return {}; }
    static Device cuda(int i = 0) { return {Kind::cuda, i}; }
    bool is_cpu() const { return kind == Kind::cpu; }
    bool is_cuda() const { return kind == Kind::cuda; }
    bool operator==(const Device&) const = default;
    std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

    // Parses "cpu", "cuda" or "cuda:N"; throws naming the string otherwise.
    static Device parse(const std::string& s);
};

// True when gradscope was built with the CUDA backend.
bool cuda_built();
// True when the CUDA backend is built and at least one GPU is usable. Never throws.
bool cuda_available();
// Number of usable GPUs (0 without the CUDA backend or without a device).
int cuda_device_count();
// Free memory of CUDA device `index` in bytes, as the driver reports it (blocks cached by
// gradscope's allocator count as used). -1 without the CUDA backend.
std::int64_t cuda_free_memory(int index);

}  // namespace gs
