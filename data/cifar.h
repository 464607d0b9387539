#pragma once
// CIFAR-10 and CIFAR-100 readers (the "binary version" of each). Records are fixed size:
//   CIFAR-10:  1 label byte (0..9), 3072 pixel bytes                      = 3073 bytes
//   CIFAR-100: 1 coarse label byte (0..19), 1 fine label byte (0..99), 3072 = 3074 bytes
// The 3072 pixels are the R plane, then G, then B, each 32x32 row-major: exactly one (3, 32, 32)
// image in NCHW order.
#include <cstdint>
#include <string>

#include "data/dataset.h"

namespace gs::data {

// Records expected in each file. The defaults are the real datasets' counts; tests pass small ones.
struct CifarCounts {
    std::int64_t train_per_file;  // CIFAR-10: per data_batch_k.bin (5 files); CIFAR-100: train.bin
    std::int64_t test_per_file;   // test_batch.bin / test.bin
};
inline constexpr CifarCounts kCifar10Counts{10000, 10000};
inline constexpr CifarCounts kCifar100Counts{50000, 10000};

// CIFAR-10 from `dir` holding data_batch_1.bin .. data_batch_5.bin (concatenated in that order into
// train), test_batch.bin, and batches.meta.txt (10 class names, one a line; when the file is absent
// class_names stays empty). `dir` may also be the folder that contains "cifar-10-batches-bin".
// Images u8 (N, 3, 32, 32), labels i64 (N). Throws gs::Error naming the file and the expected and
// found values when a file is missing, its size is not a whole number of records or not the
// expected count, or a label is out of range.
Splits load_cifar10(const std::string& dir, CifarCounts counts = kCifar10Counts);

// CIFAR-100 from `dir` holding train.bin, test.bin and optionally fine_label_names.txt (100 names)
// and coarse_label_names.txt (20 names); `dir` may also contain "cifar-100-binary". labels are the
// fine labels (num_classes 100), coarse_labels the 20 super-classes. Errors as load_cifar10.
Splits load_cifar100(const std::string& dir, CifarCounts counts = kCifar100Counts);

// One CIFAR file of `expected_records` records. `fine_classes` = 10 (CIFAR-10 layout) or 100
// (CIFAR-100 layout, coarse labels filled too). Exposed for tools and tests.
Dataset read_cifar_file(const std::string& path, std::int64_t fine_classes, std::int64_t expected_records);

}  // namespace gs::data
