#pragma once
// Dataset: images and labels held in memory, as every reader returns them.
#include <cstdint>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace gs::data {

struct Dataset {
    std::string name;                      // "fashion-mnist/train", "cifar10/test", ...
    // u8 (N, C, H, W), pixel values as stored in the file; f32 in pixel units after a Gaussian
    // randomization (data/randomize.h). Transforms and the loader accept either.
    Tensor images;
    Tensor labels;                         // i64 (N), in [0, num_classes)
    std::int64_t num_classes = 0;
    std::vector<std::string> class_names;  // num_classes entries, or empty when the format has none
    // CIFAR-100 only: the 20 super-classes (the stiffness experiments group by them).
    Tensor coarse_labels;                  // i64 (N), or undefined
    std::vector<std::string> coarse_class_names;

    std::int64_t size() const { return labels.defined() ? labels.size(0) : 0; }
};

struct Splits {
    Dataset train;
    Dataset test;
};

}  // namespace gs::data
