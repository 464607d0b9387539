// CIFAR-10/100 binary readers: exact sizes, label ranges, R/G/B planes copied as NCHW.
#include "data/cifar.h"

#include <cstring>
#include <filesystem>

#include "data/file_io.h"
#include "tensor/error.h"

namespace gs::data {

namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kPixels = 3 * 32 * 32;

// `dir` itself when it holds `probe`, else `dir/sub` when that does (the folder the archive unpacks
// into); otherwise `dir`, so the missing-file error names the folder the user gave.
std::string resolve_dir(const std::string& dir, const std::string& sub, const std::string& probe) {
    GS_CHECK(fs::is_directory(dir), dir, ": not a folder");
    if (fs::exists(fs::path(dir) / probe)) return dir;
    fs::path nested = fs::path(dir) / sub;
    if (fs::exists(nested / probe)) return nested.string();
    return dir;
}

std::vector<std::string> read_names(const fs::path& path, std::size_t expected) {
    if (!fs::exists(path)) return {};
    std::vector<std::string> names = read_text_lines(path.string());
    GS_CHECK(names.size() == expected, path.string(), ": expected ", expected, " class names, found ",
             names.size());
    return names;
}

void concat_into(Dataset& dst, const std::vector<Dataset>& parts) {
    std::vector<Tensor> images, labels, coarse;
    for (const Dataset& p : parts) {
        images.push_back(p.images);
        labels.push_back(p.labels);
        if (p.coarse_labels.defined()) coarse.push_back(p.coarse_labels);
    }
    dst.images = parts.size() == 1 ? images[0] : concat(images, 0);
    dst.labels = parts.size() == 1 ? labels[0] : concat(labels, 0);
    if (!coarse.empty()) dst.coarse_labels = coarse.size() == 1 ? coarse[0] : concat(coarse, 0);
    dst.num_classes = parts[0].num_classes;
}

}  // namespace

Dataset read_cifar_file(const std::string& path, std::int64_t fine_classes, std::int64_t expected_records) {
    GS_CHECK(fine_classes == 10 || fine_classes == 100, "read_cifar_file: fine_classes must be 10 or 100, got ",
             fine_classes);
    GS_CHECK(expected_records >= 0, "read_cifar_file: expected_records must be >= 0, got ", expected_records);
    const bool c100 = fine_classes == 100;
    const std::int64_t label_bytes = c100 ? 2 : 1;
    const std::int64_t record = label_bytes + kPixels;
    const char* format = c100 ? "CIFAR-100" : "CIFAR-10";

    // Sizes first, so a wrong file fails before it is read.
    std::uint64_t size = file_size_checked(path);
    GS_CHECK(size % std::uint64_t(record) == 0, path, ": file size ", size, " is not a whole number of ", format,
             " records of ", record, " bytes (", label_bytes, " label byte", c100 ? "s" : "", " + ", kPixels,
             " pixel bytes); expected ", std::uint64_t(expected_records) * record, " bytes");
    std::int64_t n = std::int64_t(size / std::uint64_t(record));
    GS_CHECK(n == expected_records, path, ": wrong record count: expected ", expected_records, " records (",
             std::uint64_t(expected_records) * record, " bytes), found ", n, " records (", size, " bytes)");

    std::vector<std::uint8_t> bytes = read_file_bytes(path);
    GS_CHECK(bytes.size() == size, path, ": file changed while reading: expected ", size, " bytes, found ",
             bytes.size());

    Dataset d;
    d.images = Tensor::empty({n, 3, 32, 32}, DType::u8);
    d.labels = Tensor::empty({n}, DType::i64);
    if (c100) d.coarse_labels = Tensor::empty({n}, DType::i64);
    d.num_classes = fine_classes;
    std::uint8_t* img = d.images.data<std::uint8_t>();
    std::int64_t* fine = d.labels.data<std::int64_t>();
    std::int64_t* coarse = c100 ? d.coarse_labels.data<std::int64_t>() : nullptr;
    for (std::int64_t i = 0; i < n; ++i) {
        const std::uint8_t* rec = bytes.data() + i * record;
        if (c100) {
            GS_CHECK(rec[0] < 20, path, ": coarse label out of range in record ", i, ": expected < 20, found ",
                     int(rec[0]));
            coarse[i] = rec[0];
        }
        std::int64_t label = rec[label_bytes - 1];
        GS_CHECK(label < fine_classes, path, ": ", c100 ? "fine label" : "label", " out of range in record ", i,
                 ": expected < ", fine_classes, ", found ", label);
        fine[i] = label;
        // The record's pixels are already (3, 32, 32) row-major: R plane, G plane, B plane.
        std::memcpy(img + i * kPixels, rec + label_bytes, kPixels);
    }
    return d;
}

Splits load_cifar10(const std::string& given, CifarCounts counts) {
    std::string dir = resolve_dir(given, "cifar-10-batches-bin", "data_batch_1.bin");
    std::vector<std::string> names = read_names(fs::path(dir) / "batches.meta.txt", 10);
    std::vector<Dataset> batches;
    for (int k = 1; k <= 5; ++k) {
        fs::path p = fs::path(dir) / ("data_batch_" + std::to_string(k) + ".bin");
        batches.push_back(read_cifar_file(p.string(), 10, counts.train_per_file));
    }
    Splits s;
    concat_into(s.train, batches);
    s.test = read_cifar_file((fs::path(dir) / "test_batch.bin").string(), 10, counts.test_per_file);
    s.train.name = "cifar10/train";
    s.test.name = "cifar10/test";
    s.train.class_names = s.test.class_names = names;
    return s;
}

Splits load_cifar100(const std::string& given, CifarCounts counts) {
    std::string dir = resolve_dir(given, "cifar-100-binary", "train.bin");
    std::vector<std::string> fine = read_names(fs::path(dir) / "fine_label_names.txt", 100);
    std::vector<std::string> coarse = read_names(fs::path(dir) / "coarse_label_names.txt", 20);
    Splits s;
    s.train = read_cifar_file((fs::path(dir) / "train.bin").string(), 100, counts.train_per_file);
    s.test = read_cifar_file((fs::path(dir) / "test.bin").string(), 100, counts.test_per_file);
    s.train.name = "cifar100/train";
    s.test.name = "cifar100/test";
    for (Dataset* d : {&s.train, &s.test}) {
        d->class_names = fine;
        d->coarse_class_names = coarse;
    }
    return s;
}

}  // namespace gs::data
