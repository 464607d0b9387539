// Device parsing, and the CUDA queries for builds without the CUDA backend.
#include "tensor/device.h"

#include "tensor/error.h"

namespace gs {

Device Device::parse(const std::string& s) {
    if (s == "cpu") return cpu();
    if (s == "cuda") return cuda(0);
    if (s.rfind("cuda:", 0) == 0 && s.size() > 5) {
        int index = 0;
        for (char c : s.substr(5)) {
            GS_CHECK(c >= '0' && c <= '9', "invalid device '", s, "': expected cpu, cuda or cuda:N");
            index = index * 10 + (c - '0');
        }
        return cuda(index);
    }
    GS_FAIL("invalid device '", s, "': expected cpu, cuda or cuda:N");
}

#ifndef GRADSCOPE_WITH_CUDA
bool cuda_built() { return false; }
bool cuda_available() { return false; }
int cuda_device_count() { return 0; }
std::int64_t cuda_free_memory(int) { return -1; }
#endif

}  // namespace gs
