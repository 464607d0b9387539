// Dataset content hash: chunked FNV-1a over 64-bit words with a fixed combine (see hash.h).
#include "data/hash.h"

#include <algorithm>
#include <bit>
#include <cstdio>
#include <cstring>
#include <vector>

#include "tensor/error.h"

namespace gs::data {

namespace {

constexpr std::uint64_t kOffset = 0xcbf29ce484222325ull;
constexpr std::uint64_t kPrime = 0x100000001b3ull;
constexpr std::size_t kChunk = std::size_t(1) << 20;

std::uint64_t load_le64(const unsigned char* p, std::size_t n) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);  // n <= 8; missing high bytes stay zero
    if constexpr (std::endian::native == std::endian::big) w = __builtin_bswap64(w);
    return w;
}

std::uint64_t mix(std::uint64_t h, std::uint64_t w) { return (h ^ w) * kPrime; }

// splitmix64's finalizer: a bijection that spreads every input bit over the output.
std::uint64_t finalize(std::uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

std::uint64_t hash_chunk(const unsigned char* p, std::size_t n) {
    std::uint64_t c = kOffset;
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) c = mix(c, load_le64(p + i, 8));
    if (i < n) c = mix(c, load_le64(p + i, n - i));
    return mix(c, std::uint64_t(n));
}

std::uint64_t combine(const std::vector<std::uint64_t>& parts, std::uint64_t n) {
    std::uint64_t h = kOffset ^ n;
    for (std::uint64_t c : parts) h = mix(h, c);
    return finalize(h);
}

}  // namespace

std::uint64_t hash_bytes(const void* data, std::size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    const std::int64_t chunks = std::int64_t((n + kChunk - 1) / kChunk);
    std::vector<std::uint64_t> parts(std::size_t(chunks), 0);
#pragma omp parallel for schedule(static) if (chunks >= 4)
    for (std::int64_t k = 0; k < chunks; ++k) {
        std::size_t begin = std::size_t(k) * kChunk;
        parts[std::size_t(k)] = hash_chunk(p + begin, std::min(kChunk, n - begin));
    }
    return combine(parts, n);
}

std::string hash_hex(std::uint64_t h) {
    char buf[17];
    std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
    return buf;
}

namespace {

// hash_bytes of a tensor's elements in contiguous order, each element little-endian.
std::uint64_t hash_tensor_le(const Tensor& t) {
    Tensor c = t.contiguous();
    const std::size_t item = c.itemsize(), n = std::size_t(c.numel()) * item;
    const auto* p = static_cast<const unsigned char*>(c.raw_data());
    if (std::endian::native == std::endian::little || item == 1) return hash_bytes(p, n);
    std::vector<unsigned char> le(p, p + n);
    for (std::size_t i = 0; i < n; i += item) std::reverse(le.begin() + std::ptrdiff_t(i), le.begin() + std::ptrdiff_t(i + item));
    return hash_bytes(le.data(), n);
}

std::uint64_t dataset_hash_u64(const Dataset& d) {
    GS_CHECK(d.images.defined() && d.labels.defined(), "dataset_hash: ", d.name, " has no images or labels");
    GS_CHECK(d.images.dim() == 4, "dataset_hash: ", d.name, ": images must be (N, C, H, W), got ",
             d.images.describe());
    GS_CHECK(d.labels.dtype() == DType::i64, "dataset_hash: ", d.name, ": labels must be i64, got ",
             d.labels.describe());
    static const char kTag[] = "gradscope-dataset-hash-v1";
    const std::string dtype = dtype_name(d.images.dtype());
    std::vector<std::uint64_t> header = {std::uint64_t(d.images.size(0)), std::uint64_t(d.images.size(1)),
                                         std::uint64_t(d.images.size(2)), std::uint64_t(d.images.size(3)),
                                         std::uint64_t(d.num_classes), d.coarse_labels.defined() ? 1ull : 0ull};
    if constexpr (std::endian::native == std::endian::big)
        for (auto& x : header) x = __builtin_bswap64(x);
    std::vector<std::uint64_t> parts = {
        hash_bytes(kTag, sizeof kTag - 1),
        hash_bytes(header.data(), header.size() * sizeof(std::uint64_t)),
        hash_bytes(dtype.data(), dtype.size()),
        hash_tensor_le(d.images),
        hash_tensor_le(d.labels),
    };
    if (d.coarse_labels.defined()) parts.push_back(hash_tensor_le(d.coarse_labels.to(DType::i64)));
    return combine(parts, parts.size());
}

}  // namespace

std::string dataset_hash(const Dataset& d) { return hash_hex(dataset_hash_u64(d)); }

std::string splits_hash(const Splits& s) {
    return hash_hex(combine({dataset_hash_u64(s.train), dataset_hash_u64(s.test)}, 2));
}

}  // namespace gs::data
