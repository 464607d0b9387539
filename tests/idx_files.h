#pragma once
// Small files in the IDX format (MNIST, Fashion-MNIST) for tests: the readers' tests and the GPU
// runner test, which must not depend on the Debian dataset being installed on a GPU machine.
#include <doctest/doctest.h>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace gs::test {

using Bytes = std::vector<std::uint8_t>;

inline void write_bytes(const std::string& path, const Bytes& b) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
    REQUIRE(out.good());
}

inline void put_be32(Bytes& b, std::uint32_t v) {
    for (int s = 24; s >= 0; s -= 8) b.push_back(std::uint8_t(v >> s));
}

// The pixel value the generators write at (image i, channel c, row y, column x).
inline std::uint8_t pattern(std::int64_t i, std::int64_t c, std::int64_t y, std::int64_t x) {
    return std::uint8_t((i * 31 + c * 71 + y * 7 + x * 3) % 251);
}

inline Bytes idx_images(std::uint32_t n, std::uint32_t h, std::uint32_t w, std::uint32_t magic = 0x00000803) {
    Bytes b;
    put_be32(b, magic);
    put_be32(b, n);
    put_be32(b, h);
    put_be32(b, w);
    for (std::uint32_t i = 0; i < n; ++i)
        for (std::uint32_t y = 0; y < h; ++y)
            for (std::uint32_t x = 0; x < w; ++x) b.push_back(pattern(i, 0, y, x));
    return b;
}

inline Bytes idx_labels(const std::vector<std::uint8_t>& labels, std::uint32_t magic = 0x00000801) {
    Bytes b;
    put_be32(b, magic);
    put_be32(b, std::uint32_t(labels.size()));
    b.insert(b.end(), labels.begin(), labels.end());
    return b;
}

inline std::vector<std::uint8_t> cyclic_labels(std::size_t n, int classes, int shift = 0) {
    std::vector<std::uint8_t> v(n);
    for (std::size_t i = 0; i < n; ++i) v[i] = std::uint8_t((i + std::size_t(shift)) % std::size_t(classes));
    return v;
}

// A Fashion-MNIST-style folder: n_train and n_test h x w pattern images, cyclic labels (the test
// split's shifted by 3). `put(path, bytes)` writes each file under its plain IDX name; the default
// writes it uncompressed (a reader test passes one that gzips to name.gz).
inline void write_idx_folder(const std::filesystem::path& dir, std::uint32_t n_train, std::uint32_t n_test,
                             std::uint32_t h, std::uint32_t w,
                             const std::function<void(const std::string&, const Bytes&)>& put = write_bytes) {
    put((dir / "train-images-idx3-ubyte").string(), idx_images(n_train, h, w));
    put((dir / "train-labels-idx1-ubyte").string(), idx_labels(cyclic_labels(n_train, 10)));
    put((dir / "t10k-images-idx3-ubyte").string(), idx_images(n_test, h, w));
    put((dir / "t10k-labels-idx1-ubyte").string(), idx_labels(cyclic_labels(n_test, 10, 3)));
}

}  // namespace gs::test
