#pragma once
// Launch geometry of the grid-stride CUDA kernels, as plain functions (no CUDA headers) so the
// CPU-only test suite checks them.
#include <algorithm>
#include <cstdint>

namespace gs {

// Threads per block of the elementwise kernels.
inline constexpr int kBlockSize = 256;
// At most this many blocks: the grid-stride loop covers the rest, and a bounded grid keeps the
// launch valid (gridDim.x <= 2^31 - 1) for any n.
inline constexpr std::int64_t kMaxBlocks = 65535;

// Blocks for n elements at `block` threads each: ceil(n / block) capped at kMaxBlocks, and at
// least 1 (callers skip the launch when n == 0).
inline unsigned grid_size(std::int64_t n, int block = kBlockSize) {
    const std::int64_t blocks = n <= 0 ? 1 : (n + block - 1) / block;
    return static_cast<unsigned>(std::min(blocks, kMaxBlocks));
}

}  // namespace gs
