// load_dataset: the name -> reader table.
#include "data/datasets.h"

#include <algorithm>

#include "data/cifar.h"
#include "data/idx.h"
#include "tensor/error.h"

namespace gs::data {

const std::vector<std::string>& known_datasets() {
    static const std::vector<std::string> names = {"fashion-mnist", "mnist", "cifar10", "cifar100", "imagenet"};
    return names;
}

Splits load_dataset(const std::string& name, const std::string& data_dir) {
    return load_dataset(name, data_dir, ImageFolderOptions{});
}

Splits load_dataset(const std::string& name, const std::string& data_dir, const ImageFolderOptions& image_options) {
    const auto& known = known_datasets();
    if (std::find(known.begin(), known.end(), name) == known.end()) {
        std::string list;
        for (const std::string& k : known) list += (list.empty() ? "" : ", ") + k;
        GS_FAIL("unknown dataset '", name, "'; known datasets: ", list);
    }
    std::string dir = data_dir;
    if (dir.empty() && name == "fashion-mnist") dir = kFashionMnistDir;
    GS_CHECK(!dir.empty(), "dataset ", name, " needs a data folder (none given)");

    if (name == "fashion-mnist")
        return load_idx_dir(dir, name, 10,
                            {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                             "Bag", "Ankle boot"});
    if (name == "mnist") return load_idx_dir(dir, name, 10, {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"});
    if (name == "cifar10") return load_cifar10(dir);
    if (name == "cifar100") return load_cifar100(dir);
    return load_imagenet(dir, image_options);
}

}  // namespace gs::data
