#pragma once
// ImageNet-style image folders (root/train/<wnid>/*.JPEG, root/val/<wnid>/*.JPEG) decoded with
// libjpeg-turbo, resized and center-cropped to a fixed size by a small thread pool, with an optional
// on-disk cache of the decoded tensor. JPEG only: anything else is rejected with its path.
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"
#include "tensor/tensor.h"

namespace gs::data {

struct ImageFolderOptions {
    std::int64_t size = 224;  // output images are (3, size, size)
    std::int64_t resize = 0;  // the shorter side is resized to this before the center crop; 0 -> size
    int threads = 0;          // decoding threads; 0 -> std::thread::hardware_concurrency()
    std::string cache_dir;    // folder for decoded-split caches; empty -> no cache
};

// What load_image_folder did about its cache (for tools and tests).
struct ImageFolderReport {
    std::string cache_path;     // empty when caching is off
    bool cache_hit = false;     // the split came from the cache, nothing was decoded
    bool cache_written = false; // a new cache file was written
    std::string cache_warning;  // why an existing cache was ignored or a new one not written; or empty
};

// Decodes one JPEG file to u8 (3, size, size): the shorter side is resized to `resize` (>= size)
// with an antialiased bilinear (triangle) filter, then the center size x size square is cut out.
// Grayscale JPEGs are expanded to three equal planes. libjpeg-turbo's DCT scaling (1/2, 1/4, 1/8)
// is used when the scaled image still has a shorter side >= resize. Throws gs::Error naming `path`
// when the file does not start with the JPEG marker FF D8 FF (a PNG, GIF, ... in disguise), is a
// CMYK/YCCK JPEG, or fails to decode (libjpeg-turbo's warnings, e.g. a truncated file, count as
// failures: a damaged image is never returned).
Tensor decode_jpeg_file(const std::string& path, std::int64_t size, std::int64_t resize = 0);

// The class folders of `dir` (its non-hidden subfolders), sorted by byte-wise string order.
std::vector<std::string> list_class_folders(const std::string& dir);

// One split from `split_dir`/<class>/<file> where <class> must be one of `classes`; the label of a
// file is the position of its class in `classes`. Files are every non-hidden regular file of a class
// folder, in sorted name order; samples are ordered by class, then file name. Images u8
// (N, 3, size, size), labels i64 (N). With options.cache_dir set, the decoded split is read from /
// written to a cache file named after (split_dir, size, resize); the cache is used only when its
// header, checksum and the fingerprint of the file list (names, sizes, modification times) match,
// otherwise it is ignored with a warning on stderr and rewritten. `report` (optional) says which.
Dataset load_image_folder(const std::string& split_dir, const std::vector<std::string>& classes,
                          const std::string& name, const ImageFolderOptions& options,
                          ImageFolderReport* report = nullptr);

// ImageNet from `dir`/train and `dir`/val. The class index of a WNID is its position in the sorted
// list of train/ subfolders (byte-wise order, i.e. n01440764 is 0 in the full ILSVRC-2012 set);
// that list is recorded as class_names of both splits. A val/ folder of a WNID not in train/ is an
// error. Names "imagenet/train", "imagenet/val"; the val split is returned as Splits::test.
Splits load_imagenet(const std::string& dir, const ImageFolderOptions& options = {});

}  // namespace gs::data
