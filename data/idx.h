#pragma once
// IDX reader (the MNIST / Fashion-MNIST file format), gzipped or plain. Format, all integers
// big-endian: images = magic 0x00000803, N, H, W (u32 each), then N*H*W pixel bytes row-major;
// labels = magic 0x00000801, N (u32), then N label bytes. Nothing else may follow.
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "tensor/tensor.h"

namespace gs::data {

// Images of an idx3 file: u8 (N, 1, H, W). Throws gs::Error naming `path` on a wrong magic number,
// a zero dimension, or a payload that is not exactly N*H*W bytes (truncated or trailing bytes).
Tensor read_idx_images(const std::string& path);

// Labels of an idx1 file: i64 (N). Throws gs::Error naming `path` on a wrong magic number, a payload
// that is not exactly N bytes, or a label >= num_classes (the message gives its index and value).
Tensor read_idx_labels(const std::string& path, std::int64_t num_classes = 10);

// One split from an images file and a labels file whose counts must agree. `name` becomes
// Dataset::name and `class_names` (empty or num_classes entries) Dataset::class_names.
Dataset read_idx_split(const std::string& images_path, const std::string& labels_path, const std::string& name,
                       std::int64_t num_classes, const std::vector<std::string>& class_names);

// Both splits from a folder holding train-images-idx3-ubyte, train-labels-idx1-ubyte,
// t10k-images-idx3-ubyte, t10k-labels-idx1-ubyte, each optionally with ".gz" (the original
// "train-images.idx3-ubyte" spelling is accepted too). Names are "<name>/train", "<name>/test".
// Train and test images must have the same H and W. Throws naming the folder and the file
// names it looked for when one is missing.
Splits load_idx_dir(const std::string& dir, const std::string& name = "mnist", std::int64_t num_classes = 10,
                    const std::vector<std::string>& class_names = {});

}  // namespace gs::data
