#pragma once
// load_dataset: one entry point from a dataset name and folder to its two splits, over the readers
// in idx.h, cifar.h and imagenet.h.
#include <string>
#include <vector>

#include "data/dataset.h"
#include "data/imagenet.h"

namespace gs::data {

// Where Debian's dataset-fashion-mnist package installs Fashion-MNIST (the project's default data).
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// The names load_dataset knows: fashion-mnist, mnist, cifar10, cifar100, imagenet.
const std::vector<std::string>& known_datasets();

// Both splits of dataset `name` read from `data_dir`:
//   fashion-mnist  IDX files (gz or plain); data_dir empty -> kFashionMnistDir; class names set
//   mnist          IDX files; class names "0".."9"
//   cifar10        CIFAR-10 binary batches (load_cifar10)
//   cifar100       CIFAR-100 binary (load_cifar100), fine labels plus coarse_labels
//   imagenet       train/<wnid>/*.JPEG and val/<wnid>/*.JPEG (load_imagenet with `image_options`)
// Throws gs::Error listing the known names for an unknown `name`, asking for a folder when
// `data_dir` is empty (except fashion-mnist), and the readers' errors (naming the file) otherwise.
Splits load_dataset(const std::string& name, const std::string& data_dir);
Splits load_dataset(const std::string& name, const std::string& data_dir, const ImageFolderOptions& image_options);

}  // namespace gs::data
