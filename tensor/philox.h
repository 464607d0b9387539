#pragma once
// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011): a
// counter-based generator, so element i of a random fill is a pure function of (key, counter + i)
// and the numbers do not depend on the thread count or the device. Usable from CUDA code.
#include <cstdint>

#if defined(__CUDACC__)
#define GS_PHILOX_HD __host__ __device__
#else
#define GS_PHILOX_HD
#endif

namespace gs {

// Four 32-bit outputs. A plain struct rather than std::array, whose operator[] is host-only.
struct PhiloxBlock {
    std::uint32_t v[4];
    GS_PHILOX_HD std::uint32_t operator[](int i) const { return v[i]; }
    bool operator==(const PhiloxBlock&) const = default;
};

struct Philox4x32 {
    using Block = PhiloxBlock;

    // key = seed (64 bits); counter = (offset: 64 bits, stream: 64 bits).
    GS_PHILOX_HD static Block generate(std::uint64_t seed, std::uint64_t stream, std::uint64_t offset) {
        std::uint32_t c0 = std::uint32_t(offset), c1 = std::uint32_t(offset >> 32);
        std::uint32_t c2 = std::uint32_t(stream), c3 = std::uint32_t(stream >> 32);
        std::uint32_t k0 = std::uint32_t(seed), k1 = std::uint32_t(seed >> 32);
        constexpr std::uint32_t M0 = 0xD2511F53u, M1 = 0xCD9E8D57u;  // round multipliers
        constexpr std::uint32_t W0 = 0x9E3779B9u, W1 = 0xBB67AE85u;  // Weyl key increments
        for (int round = 0; round < 10; ++round) {
            const std::uint64_t p0 = std::uint64_t(M0) * c0, p1 = std::uint64_t(M1) * c2;
            const std::uint32_t hi0 = std::uint32_t(p0 >> 32), lo0 = std::uint32_t(p0);
            const std::uint32_t hi1 = std::uint32_t(p1 >> 32), lo1 = std::uint32_t(p1);
            c0 = hi1 ^ c1 ^ k0;
            c1 = lo1;
            c2 = hi0 ^ c3 ^ k1;
            c3 = lo0;
            k0 += W0;
            k1 += W1;
        }
        return {{c0, c1, c2, c3}};
    }

    // Uniform in [0, 1) from 24 (float) or 53 (double) random bits.
    GS_PHILOX_HD static float to_float(std::uint32_t x) { return float(x >> 8) * (1.0f / 16777216.0f); }
    GS_PHILOX_HD static double to_double(std::uint32_t hi, std::uint32_t lo) {
        const std::uint64_t x = (std::uint64_t(hi) << 32 | lo) >> 11;
        return double(x) * (1.0 / 9007199254740992.0);
    }
};

}  // namespace gs
