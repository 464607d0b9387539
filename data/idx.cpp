// IDX reader: header checks, exact payload sizes, label ranges.
#include "data/idx.h"

#include <cstdio>
#include <cstring>
#include <filesystem>
#include <future>

#include "data/file_io.h"
#include "tensor/error.h"

namespace gs::data {

namespace {

constexpr std::uint32_t kImagesMagic = 0x00000803;  // u8 data, 3 dims
constexpr std::uint32_t kLabelsMagic = 0x00000801;  // u8 data, 1 dim

std::uint32_t be32(const std::vector<std::uint8_t>& b, std::size_t at) {
    return (std::uint32_t(b[at]) << 24) | (std::uint32_t(b[at + 1]) << 16) | (std::uint32_t(b[at + 2]) << 8) |
           std::uint32_t(b[at + 3]);
}

std::string hex32(std::uint32_t v) {
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%08x", v);
    return buf;
}

// Reads the header of `n_dims` sizes after the magic; returns the sizes.
std::vector<std::uint64_t> read_header(const std::vector<std::uint8_t>& bytes, const std::string& path,
                                       std::uint32_t magic, int n_dims, const char* kind) {
    std::size_t header = 4 + 4 * std::size_t(n_dims);
    GS_CHECK(bytes.size() >= 4, path, ": IDX ", kind, " file too short for its magic number (", bytes.size(),
             " bytes)");
    std::uint32_t found = be32(bytes, 0);
    GS_CHECK(found == magic, path, ": wrong IDX magic number for ", kind, ": expected ", hex32(magic), ", found ",
             hex32(found));
    GS_CHECK(bytes.size() >= header, path, ": IDX ", kind, " header truncated: expected ", header,
             " header bytes, found ", bytes.size());
    std::vector<std::uint64_t> dims;
    for (int d = 0; d < n_dims; ++d) dims.push_back(be32(bytes, 4 + 4 * std::size_t(d)));
    return dims;
}

void check_payload(const std::vector<std::uint8_t>& bytes, const std::string& path, std::size_t header,
                   std::uint64_t expected, const char* kind) {
    std::uint64_t found = bytes.size() - header;
    // The read stops one byte past the expected size, so a longer payload is reported as "more".
    GS_CHECK(found == expected, path, ": IDX ", kind, " payload ", found < expected ? "truncated" : "has trailing bytes",
             ": expected ", expected, " bytes, found ", found < expected ? std::to_string(found) : "more");
}

std::string find_one(const std::string& dir, const std::vector<std::string>& stems) {
    std::vector<std::string> tried;
    for (const std::string& stem : stems) {
        for (const char* ext : {"", ".gz"}) {
            std::filesystem::path p = std::filesystem::path(dir) / (stem + ext);
            if (std::filesystem::is_regular_file(p)) return p.string();
            tried.push_back(stem + ext);
        }
    }
    std::string list;
    for (const std::string& t : tried) list += (list.empty() ? "" : ", ") + t;
    GS_FAIL(dir, ": no IDX file found; looked for ", list);
}

}  // namespace

namespace {

// The whole file's expected size from its header, read first on its own: the payload read then
// stops there instead of inflating whatever a (gzipped) file holds.
std::uint64_t expected_file_size(const std::string& path, std::uint32_t magic, int n_dims, const char* kind) {
    const std::size_t header = 4 + 4 * std::size_t(n_dims);
    const std::vector<std::uint8_t> head = read_maybe_gzip(path, header);
    std::uint64_t total = 1;
    for (std::uint64_t d : read_header(head, path, magic, n_dims, kind))
        GS_CHECK(!__builtin_mul_overflow(total, d, &total), path, ": IDX ", kind, " header sizes overflow 64 bits");
    GS_CHECK(!__builtin_add_overflow(total, header, &total), path, ": IDX ", kind, " header sizes overflow 64 bits");
    return total;
}

}  // namespace

Tensor read_idx_images(const std::string& path) {
    std::vector<std::uint8_t> bytes = read_maybe_gzip(path, expected_file_size(path, kImagesMagic, 3, "images"));
    std::vector<std::uint64_t> dims = read_header(bytes, path, kImagesMagic, 3, "images");
    std::uint64_t n = dims[0], h = dims[1], w = dims[2];
    GS_CHECK(h > 0 && w > 0, path, ": IDX images have a zero dimension: ", h, "x", w);
    // H*W < 2^64 since both are < 2^32; N*H*W could overflow only when one image is already larger
    // than the whole payload, which is a truncation anyway.
    std::uint64_t per_image = h * w;
    GS_CHECK(n == 0 || per_image <= bytes.size() - 16, path, ": IDX images payload truncated: expected ", n,
             " images of ", h, "x", w, " bytes, found ", bytes.size() - 16, " bytes");
    check_payload(bytes, path, 16, n * per_image, "images");
    Tensor images = Tensor::empty({std::int64_t(n), 1, std::int64_t(h), std::int64_t(w)}, DType::u8);
    if (n > 0) std::memcpy(images.data<std::uint8_t>(), bytes.data() + 16, n * per_image);
    return images;
}

Tensor read_idx_labels(const std::string& path, std::int64_t num_classes) {
    std::vector<std::uint8_t> bytes = read_maybe_gzip(path, expected_file_size(path, kLabelsMagic, 1, "labels"));
    std::vector<std::uint64_t> dims = read_header(bytes, path, kLabelsMagic, 1, "labels");
    std::uint64_t n = dims[0];
    check_payload(bytes, path, 8, n, "labels");
    Tensor labels = Tensor::empty({std::int64_t(n)}, DType::i64);
    std::int64_t* out = labels.data<std::int64_t>();
    for (std::uint64_t i = 0; i < n; ++i) {
        std::int64_t v = bytes[8 + i];
        GS_CHECK(v < num_classes, path, ": label out of range at index ", i, ": expected < ", num_classes,
                 ", found ", v);
        out[i] = v;
    }
    return labels;
}

Dataset read_idx_split(const std::string& images_path, const std::string& labels_path, const std::string& name,
                       std::int64_t num_classes, const std::vector<std::string>& class_names) {
    GS_CHECK(class_names.empty() || std::int64_t(class_names.size()) == num_classes, "read_idx_split: ",
             class_names.size(), " class names for ", num_classes, " classes");
    Dataset d;
    d.name = name;
    d.images = read_idx_images(images_path);
    d.labels = read_idx_labels(labels_path, num_classes);
    GS_CHECK(d.images.size(0) == d.labels.size(0), images_path, " and ", labels_path,
             ": image and label counts differ: ", d.images.size(0), " images, ", d.labels.size(0), " labels");
    d.num_classes = num_classes;
    d.class_names = class_names;
    return d;
}

Splits load_idx_dir(const std::string& dir, const std::string& name, std::int64_t num_classes,
                    const std::vector<std::string>& class_names) {
    GS_CHECK(std::filesystem::is_directory(dir), dir, ": not a folder (expected the IDX files of ", name, ")");
    const std::string train_images = find_one(dir, {"train-images-idx3-ubyte", "train-images.idx3-ubyte"});
    const std::string train_labels = find_one(dir, {"train-labels-idx1-ubyte", "train-labels.idx1-ubyte"});
    const std::string test_images = find_one(dir, {"t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"});
    const std::string test_labels = find_one(dir, {"t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"});
    // gunzip is single-threaded, so the test split decompresses beside the train split. The train
    // result is awaited first, so when both fail the train error is the one reported.
    auto test = std::async(std::launch::async, [&] {
        return read_idx_split(test_images, test_labels, name + "/test", num_classes, class_names);
    });
    Splits s;
    try {
        s.train = read_idx_split(train_images, train_labels, name + "/train", num_classes, class_names);
    } catch (...) {
        test.wait();
        throw;
    }
    s.test = test.get();
    GS_CHECK(s.train.images.size(2) == s.test.images.size(2) && s.train.images.size(3) == s.test.images.size(3), dir,
             ": train images are ", s.train.images.size(2), "x", s.train.images.size(3), " but test images are ",
             s.test.images.size(2), "x", s.test.images.size(3));
    return s;
}

}  // namespace gs::data
