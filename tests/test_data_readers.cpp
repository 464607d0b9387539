// Dataset readers on small files written here in the real formats (IDX plain and gzip, CIFAR-10,
// CIFAR-100, ImageNet folders of JPEGs encoded with libjpeg-turbo), every kind of corruption with
// its message, the decoded-image cache, the dataset hash, and Fashion-MNIST from the Debian package.
#include <doctest/doctest.h>
#include <omp.h>
#include <turbojpeg.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "idx_files.h"
#include "temp_dir.h"
#include "data/cifar.h"
#include "data/datasets.h"
#include "data/file_io.h"
#include "data/hash.h"
#include "data/idx.h"
#include "data/imagenet.h"
#include "tensor/error.h"

namespace fs = std::filesystem;
using namespace gs;
using namespace gs::data;
using gs::test::Bytes;
using gs::test::idx_images;
using gs::test::idx_labels;
using gs::test::pattern;
using gs::test::put_be32;
using gs::test::write_bytes;

namespace {

// doctest::Contains from a std::string (it copies the text).
doctest::Contains has(const std::string& text) { return doctest::Contains(text.c_str()); }

// A fresh folder under the system temp folder, removed with everything in it at scope exit.
// The readers take string paths, so this folder hands out strings.
struct TempDir : gs::test::TempDir {
    std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write_gzip(const std::string& path, const Bytes& b) {
    gzFile gz = gzopen(path.c_str(), "wb");
    REQUIRE(gz != nullptr);
    REQUIRE(gzwrite(gz, b.data(), unsigned(b.size())) == int(b.size()));
    REQUIRE(gzclose(gz) == Z_OK);
}

Bytes read_bytes(const std::string& path) { return read_file_bytes(path); }

// A complete IDX folder: train 7 images of 5x6, test 4 images; plain or gzipped files.
void write_idx_dir(const TempDir& d, bool gz) {
    gs::test::write_idx_folder(d.path, 7, 4, 5, 6, [&](const std::string& path, const Bytes& b) {
        if (gz) write_gzip(path + ".gz", b);
        else write_bytes(path, b);
    });
}

void check_pattern(const Tensor& images, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
    REQUIRE(images.dtype() == DType::u8);
    REQUIRE(images.shape() == Shape{n, c, h, w});
    const std::uint8_t* p = images.data<std::uint8_t>();
    std::int64_t bad = 0;
    for (std::int64_t i = 0; i < n; ++i)
        for (std::int64_t ch = 0; ch < c; ++ch)
            for (std::int64_t y = 0; y < h; ++y)
                for (std::int64_t x = 0; x < w; ++x)
                    bad += p[((i * c + ch) * h + y) * w + x] != pattern(i, ch, y, x);
    CHECK(bad == 0);
}

// One CIFAR record per label tuple: the label byte(s), then the (3, 32, 32) pattern of image i.
Bytes cifar_records(const std::vector<std::vector<std::uint8_t>>& label_bytes, std::int64_t first_image) {
    Bytes b;
    for (std::size_t r = 0; r < label_bytes.size(); ++r) {
        b.insert(b.end(), label_bytes[r].begin(), label_bytes[r].end());
        for (int c = 0; c < 3; ++c)
            for (int y = 0; y < 32; ++y)
                for (int x = 0; x < 32; ++x) b.push_back(pattern(first_image + std::int64_t(r), c, y, x));
    }
    return b;
}

Bytes cifar10_file(std::size_t n, std::int64_t first_image) {
    std::vector<std::vector<std::uint8_t>> labels;
    for (std::size_t i = 0; i < n; ++i) labels.push_back({std::uint8_t((std::size_t(first_image) + i) % 10)});
    return cifar_records(labels, first_image);
}

Bytes cifar100_file(std::size_t n, std::int64_t first_image) {
    std::vector<std::vector<std::uint8_t>> labels;
    for (std::size_t i = 0; i < n; ++i) {
        std::uint8_t fine = std::uint8_t((std::size_t(first_image) + i * 13) % 100);
        labels.push_back({std::uint8_t(fine % 20), fine});
    }
    return cifar_records(labels, first_image);
}

std::string lines(int n, const std::string& prefix) {
    std::string s;
    for (int k = 0; k < n; ++k) s += prefix + std::to_string(k) + "\n";
    return s;
}

void write_text(const std::string& path, const std::string& text) { write_bytes(path, Bytes(text.begin(), text.end())); }

// A CIFAR-10 folder with 5 batches of 3 records, a test batch of 2, and batches.meta.txt.
void write_cifar10_dir(const std::string& dir) {
    for (int k = 1; k <= 5; ++k)
        write_bytes(dir + "/data_batch_" + std::to_string(k) + ".bin", cifar10_file(3, (k - 1) * 3));
    write_bytes(dir + "/test_batch.bin", cifar10_file(2, 100));
    write_text(dir + "/batches.meta.txt", lines(10, "class") + "\n");
}
constexpr CifarCounts kSmall10{3, 2};

void write_cifar100_dir(const std::string& dir) {
    write_bytes(dir + "/train.bin", cifar100_file(5, 0));
    write_bytes(dir + "/test.bin", cifar100_file(3, 50));
    write_text(dir + "/fine_label_names.txt", lines(100, "fine"));
    write_text(dir + "/coarse_label_names.txt", lines(20, "coarse"));
}
constexpr CifarCounts kSmall100{5, 3};

// ---- JPEG helpers --------------------------------------------------------------------------------

// Encodes (h, w, ch) interleaved pixels as a JPEG (quality 95, no chroma subsampling).
Bytes encode_jpeg(const Bytes& pixels, int w, int h, int ch) {
    tjhandle tj = tjInitCompress();
    REQUIRE(tj != nullptr);
    unsigned char* out = nullptr;
    unsigned long size = 0;
    int rc = tjCompress2(tj, pixels.data(), w, 0, h, ch == 1 ? TJPF_GRAY : TJPF_RGB, &out, &size,
                         ch == 1 ? TJSAMP_GRAY : TJSAMP_444, 95, TJFLAG_ACCURATEDCT);
    REQUIRE(rc == 0);
    Bytes b(out, out + size);
    tjFree(out);
    tjDestroy(tj);
    return b;
}

Bytes flat_rgb(int w, int h, std::uint8_t r, std::uint8_t g, std::uint8_t b) {
    Bytes p;
    for (int i = 0; i < w * h; ++i) p.insert(p.end(), {r, g, b});
    return p;
}

// A PNG signature and IHDR start, then junk: a PNG renamed to .JPEG.
Bytes png_in_disguise() {
    Bytes b = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R'};
    for (int i = 0; i < 200; ++i) b.push_back(std::uint8_t(i));
    return b;
}

std::int64_t count_far(const Tensor& t, double want, double tol) {
    std::int64_t n = 0;
    for (double v : t.to_vector<double>()) n += std::abs(v - want) > tol;
    return n;
}

// root/train/<wnid>/ and root/val/<wnid>/ with flat-colour JPEGs whose colour encodes the class;
// the folders are created out of order so the sorting shows.
void write_imagenet(const TempDir& d) {
    const std::vector<std::string> wnids = {"n03000000", "n01000000", "n02000000"};
    for (std::size_t k = 0; k < wnids.size(); ++k) {
        // Class n0K gets red = 40 * K, so label == red / 40 - 1 after sorting.
        const std::uint8_t red = std::uint8_t(40 * (wnids[k][2] - '0'));
        for (int j = 0; j < 3; ++j)
            write_bytes(d / ("train/" + wnids[k] + "/img_" + std::to_string(j) + ".JPEG"),
                        encode_jpeg(flat_rgb(40 + 8 * j, 30, red, 100, 200), 40 + 8 * j, 30, 3));
        write_bytes(d / ("val/" + wnids[k] + "/val_" + std::to_string(k) + ".JPEG"),
                    encode_jpeg(flat_rgb(30, 44, red, 100, 200), 30, 44, 3));
    }
}

}  // namespace

// ---- IDX ----------------------------------------------------------------------------------------

TEST_CASE("idx readers load plain and gzipped folders with identical content") {
    for (bool gz : {false, true}) {
        CAPTURE(gz);
        TempDir d;
        write_idx_dir(d, gz);
        Splits s = load_idx_dir(d.path.string(), "toy");
        check_pattern(s.train.images, 7, 1, 5, 6);
        check_pattern(s.test.images, 4, 1, 5, 6);
        CHECK(s.train.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2, 3, 4, 5, 6});
        CHECK(s.test.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{3, 4, 5, 6});
        CHECK(s.train.name == "toy/train");
        CHECK(s.test.name == "toy/test");
        CHECK(s.train.num_classes == 10);
    }
}

TEST_CASE("idx gzip is sniffed by content not by name") {
    TempDir d;
    // A gzipped images file without ".gz" and a plain labels file named ".gz".
    write_gzip(d / "imgs", idx_images(3, 2, 2));
    write_bytes(d / "labels.gz", idx_labels({1, 2, 3}));
    Dataset s = read_idx_split(d / "imgs", d / "labels.gz", "x", 10, {});
    check_pattern(s.images, 3, 1, 2, 2);
    CHECK(s.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2, 3});
}

TEST_CASE("idx truncated files are errors naming the file") {
    TempDir d;
    Bytes images = idx_images(5, 4, 4);
    Bytes cut(images.begin(), images.end() - 1);
    write_bytes(d / "cut-images", cut);
    CHECK_THROWS_WITH_AS(read_idx_images(d / "cut-images"),
                         has(d / "cut-images" + ": IDX images payload truncated: expected 80 bytes, found 79"),
                         Error);
    // A header cut in the middle.
    write_bytes(d / "short-header", Bytes(images.begin(), images.begin() + 10));
    CHECK_THROWS_WITH_AS(read_idx_images(d / "short-header"), has("header truncated: expected 16"), Error);
    // Labels one byte short.
    Bytes labels = idx_labels({1, 2, 3});
    write_bytes(d / "cut-labels", Bytes(labels.begin(), labels.end() - 1));
    CHECK_THROWS_WITH_AS(read_idx_labels(d / "cut-labels"),
                         has("IDX labels payload truncated: expected 3 bytes, found 2"), Error);
    // A gzip stream cut short is a zlib error, never a short array.
    write_gzip(d / "full.gz", images);
    Bytes gz = read_bytes(d / "full.gz");
    write_bytes(d / "cut.gz", Bytes(gz.begin(), gz.begin() + std::ptrdiff_t(gz.size() / 2)));
    CHECK_THROWS_WITH_AS(read_idx_images(d / "cut.gz"), has(d / "cut.gz" + ": corrupt or truncated gzip"),
                         Error);
}

TEST_CASE("idx trailing bytes are errors") {
    TempDir d;
    Bytes images = idx_images(2, 3, 3);
    images.push_back(0);
    write_bytes(d / "img", images);
    CHECK_THROWS_WITH_AS(read_idx_images(d / "img"),
                         has("payload has trailing bytes: expected 18 bytes, found more"), Error);
}

TEST_CASE("idx gzip: garbage after the stream is an error and concatenated members are read") {
    TempDir d;
    Bytes labels = idx_labels({1, 2, 3, 4, 5, 6});
    write_gzip(d / "labels.gz", labels);
    Bytes gz = read_bytes(d / "labels.gz");
    Bytes junk = gz;
    junk.insert(junk.end(), 100, 0x42);
    write_bytes(d / "junk.gz", junk);
    CHECK_THROWS_WITH_AS(read_idx_labels(d / "junk.gz"), has(d / "junk.gz" + ": 100 bytes of trailing garbage"), Error);
    // A second member holding the rest of the payload: what `cat a.gz b.gz` makes, valid gzip.
    write_gzip(d / "head.gz", Bytes(labels.begin(), labels.begin() + 10));
    write_gzip(d / "tail.gz", Bytes(labels.begin() + 10, labels.end()));
    Bytes two = read_bytes(d / "head.gz");
    const Bytes tail = read_bytes(d / "tail.gz");
    two.insert(two.end(), tail.begin(), tail.end());
    write_bytes(d / "two.gz", two);
    CHECK(read_idx_labels(d / "two.gz").to_vector<std::int64_t>() == std::vector<std::int64_t>{1, 2, 3, 4, 5, 6});
}

TEST_CASE("idx gzip bomb stops at the size its header announces") {
    // One 28x28 image announced, 64 MiB of zeros behind it (a ~64 KiB file). The read stops one
    // byte past the announced 16 + 784 bytes instead of inflating everything.
    TempDir d;
    Bytes bomb = idx_images(1, 28, 28);
    bomb.resize(bomb.size() + (std::size_t(64) << 20), 0);
    write_gzip(d / "bomb.gz", bomb);
    CHECK_THROWS_WITH_AS(read_idx_images(d / "bomb.gz"),
                         has("payload has trailing bytes: expected 784 bytes, found more"), Error);
    CHECK(read_maybe_gzip(d / "bomb.gz", 800).size() == 801);
}

TEST_CASE("idx wrong magic numbers are errors") {
    TempDir d;
    write_bytes(d / "labels-as-images", idx_labels({1, 2}));
    CHECK_THROWS_WITH_AS(read_idx_images(d / "labels-as-images"),
                         has(d / "labels-as-images" +
                                           ": wrong IDX magic number for images: expected 0x00000803, found 0x00000801"),
                         Error);
    write_bytes(d / "images-as-labels", idx_images(1, 2, 2));
    CHECK_THROWS_WITH_AS(read_idx_labels(d / "images-as-labels"),
                         has("wrong IDX magic number for labels: expected 0x00000801, found 0x00000803"),
                         Error);
    write_bytes(d / "tiny", {0, 0});
    CHECK_THROWS_WITH_AS(read_idx_images(d / "tiny"), has("too short for its magic number"), Error);
    write_bytes(d / "zero-dim", idx_images(0, 0, 5));
    CHECK_THROWS_WITH_AS(read_idx_images(d / "zero-dim"), has("zero dimension"), Error);
}

TEST_CASE("idx label out of range and count mismatch are errors") {
    TempDir d;
    write_bytes(d / "labels", idx_labels({1, 9, 4, 10, 2}));
    CHECK_THROWS_WITH_AS(read_idx_labels(d / "labels"),
                         has(d / "labels" + ": label out of range at index 3: expected < 10, found 10"),
                         Error);
    write_bytes(d / "images", idx_images(4, 2, 2));
    write_bytes(d / "labels5", idx_labels({1, 2, 3, 4, 5}));
    CHECK_THROWS_WITH_AS(read_idx_split(d / "images", d / "labels5", "x", 10, {}),
                         has("image and label counts differ: 4 images, 5 labels"), Error);
}

TEST_CASE("idx folder with a missing file names what it looked for") {
    TempDir d;
    write_idx_dir(d, false);
    fs::remove(d / "t10k-labels-idx1-ubyte");
    CHECK_THROWS_WITH_AS(load_idx_dir(d.path.string()),
                         has("no IDX file found; looked for t10k-labels-idx1-ubyte, t10k-labels-idx1-ubyte.gz"),
                         Error);
    CHECK_THROWS_WITH_AS(load_idx_dir(d / "nowhere"), has("not a folder"), Error);
}

// ---- CIFAR --------------------------------------------------------------------------------------

TEST_CASE("cifar10 batches load as NCHW with labels and class names") {
    TempDir d;
    write_cifar10_dir(d / "cifar-10-batches-bin");
    // The parent of the archive's folder works as well as the folder itself.
    for (const std::string& dir : {d.path.string(), d / "cifar-10-batches-bin"}) {
        Splits s = load_cifar10(dir, kSmall10);
        check_pattern(s.train.images, 15, 3, 32, 32);
        std::vector<std::int64_t> want;
        for (int i = 0; i < 15; ++i) want.push_back(i % 10);
        CHECK(s.train.labels.to_vector<std::int64_t>() == want);
        CHECK(s.test.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1});
        // Test images were written with pattern index 100, 101.
        CHECK(s.test.images.at<int>({1, 2, 5, 7}) == pattern(101, 2, 5, 7));
        CHECK(s.train.class_names.size() == 10);
        CHECK(s.train.class_names[3] == "class3");
        CHECK(s.test.num_classes == 10);
        CHECK_FALSE(s.train.coarse_labels.defined());
        CHECK(s.train.name == "cifar10/train");
    }
}

TEST_CASE("cifar10 corruption kinds are errors naming file expected and found") {
    TempDir d;
    write_cifar10_dir(d.path.string());
    const std::string b2 = d / "data_batch_2.bin";
    Bytes good = read_bytes(b2);

    SUBCASE("wrong record size") {
        Bytes b = good;
        b.push_back(0);
        write_bytes(b2, b);
        CHECK_THROWS_WITH_AS(load_cifar10(d.path.string(), kSmall10),
                             has(b2 + ": file size 9220 is not a whole number of CIFAR-10 records of "
                                                    "3073 bytes (1 label byte + 3072 pixel bytes); expected 9219 bytes"),
                             Error);
    }
    SUBCASE("truncated file") {
        write_bytes(b2, Bytes(good.begin(), good.end() - 3073));
        CHECK_THROWS_WITH_AS(load_cifar10(d.path.string(), kSmall10),
                             has(b2 + ": wrong record count: expected 3 records (9219 bytes), found 2 "
                                                    "records (6146 bytes)"),
                             Error);
    }
    SUBCASE("real counts by default") {
        CHECK_THROWS_WITH_AS(load_cifar10(d.path.string()),
                             has("expected 10000 records (30730000 bytes), found 3 records"), Error);
    }
    SUBCASE("label out of range") {
        Bytes b = good;
        b[2 * 3073] = 10;
        write_bytes(b2, b);
        CHECK_THROWS_WITH_AS(load_cifar10(d.path.string(), kSmall10),
                             has(b2 + ": label out of range in record 2: expected < 10, found 10"), Error);
    }
    SUBCASE("missing batch") {
        fs::remove(d / "data_batch_4.bin");
        CHECK_THROWS_WITH_AS(load_cifar10(d.path.string(), kSmall10),
                             has(d / "data_batch_4.bin" + ": no such file"), Error);
    }
    SUBCASE("wrong number of class names") {
        write_text(d / "batches.meta.txt", lines(9, "c"));
        CHECK_THROWS_WITH_AS(load_cifar10(d.path.string(), kSmall10),
                             has("batches.meta.txt: expected 10 class names, found 9"), Error);
    }
}

TEST_CASE("cifar100 loads fine and coarse labels with both name lists") {
    TempDir d;
    write_cifar100_dir(d / "cifar-100-binary");
    Splits s = load_cifar100(d.path.string(), kSmall100);
    check_pattern(s.train.images, 5, 3, 32, 32);
    std::vector<std::int64_t> fine, coarse;
    for (int i = 0; i < 5; ++i) {
        fine.push_back((i * 13) % 100);
        coarse.push_back(fine.back() % 20);
    }
    CHECK(s.train.labels.to_vector<std::int64_t>() == fine);
    REQUIRE(s.train.coarse_labels.defined());
    CHECK(s.train.coarse_labels.to_vector<std::int64_t>() == coarse);
    CHECK(s.test.coarse_labels.size(0) == 3);
    CHECK(s.train.num_classes == 100);
    CHECK(s.train.class_names.size() == 100);
    CHECK(s.test.coarse_class_names.size() == 20);
    CHECK(s.test.coarse_class_names[19] == "coarse19");
    CHECK(s.test.name == "cifar100/test");
}

TEST_CASE("cifar100 corruption kinds are errors") {
    TempDir d;
    write_cifar100_dir(d.path.string());
    const std::string train = d / "train.bin";
    Bytes good = read_bytes(train);

    SUBCASE("fine label out of range") {
        Bytes b = good;
        b[3 * 3074 + 1] = 100;
        write_bytes(train, b);
        CHECK_THROWS_WITH_AS(load_cifar100(d.path.string(), kSmall100),
                             has(train + ": fine label out of range in record 3: expected < 100, found 100"),
                             Error);
    }
    SUBCASE("coarse label out of range") {
        Bytes b = good;
        b[1 * 3074] = 20;
        write_bytes(train, b);
        CHECK_THROWS_WITH_AS(load_cifar100(d.path.string(), kSmall100),
                             has("coarse label out of range in record 1: expected < 20, found 20"), Error);
    }
    SUBCASE("cifar10 records in a cifar100 file") {
        write_bytes(train, cifar10_file(6, 0));  // 6 * 3073 bytes is no whole number of 3074-byte records
        CHECK_THROWS_WITH_AS(load_cifar100(d.path.string(), kSmall100),
                             has("is not a whole number of CIFAR-100 records of 3074 bytes"), Error);
    }
    SUBCASE("wrong count of coarse names") {
        write_text(d / "coarse_label_names.txt", lines(19, "c"));
        CHECK_THROWS_WITH_AS(load_cifar100(d.path.string(), kSmall100),
                             has("coarse_label_names.txt: expected 20 class names, found 19"), Error);
    }
}

// ---- Fashion-MNIST from the Debian package --------------------------------------------------------

TEST_CASE("fashion-mnist from the Debian package has 60000 and 10000 balanced images") {
    if (!fs::is_directory(kFashionMnistDir)) {
        MESSAGE("SKIPPED: ", kFashionMnistDir, " is absent (install the dataset-fashion-mnist package)");
        return;
    }
    Splits s = load_dataset("fashion-mnist", "");
    CHECK(s.train.images.shape() == Shape{60000, 1, 28, 28});
    CHECK(s.test.images.shape() == Shape{10000, 1, 28, 28});
    CHECK(s.train.class_names.size() == 10);
    CHECK(s.train.class_names[9] == "Ankle boot");
    std::vector<std::int64_t> train_hist(10, 0), test_hist(10, 0);
    for (std::int64_t v : s.train.labels.to_vector<std::int64_t>()) ++train_hist[std::size_t(v)];
    for (std::int64_t v : s.test.labels.to_vector<std::int64_t>()) ++test_hist[std::size_t(v)];
    CHECK(train_hist == std::vector<std::int64_t>(10, 6000));
    CHECK(test_hist == std::vector<std::int64_t>(10, 1000));
}

TEST_CASE("load_dataset rejects unknown names and a missing folder") {
    CHECK_THROWS_WITH_AS(load_dataset("cifar-11", "/tmp"),
                         has("unknown dataset 'cifar-11'; known datasets: fashion-mnist, mnist, cifar10, "
                                           "cifar100, imagenet"),
                         Error);
    CHECK_THROWS_WITH_AS(load_dataset("cifar10", ""), has("dataset cifar10 needs a data folder"), Error);
    TempDir d;
    CHECK_THROWS_WITH_AS(load_dataset("mnist", d.path.string()), has("no IDX file found"), Error);
}

// ---- JPEG / ImageNet ------------------------------------------------------------------------------

TEST_CASE("jpeg rgb and gray decode to three planes of the right size") {
    TempDir d;
    write_bytes(d / "rgb.jpg", encode_jpeg(flat_rgb(50, 37, 200, 100, 50), 50, 37, 3));
    write_bytes(d / "gray.jpg", encode_jpeg(Bytes(33 * 61, 128), 33, 61, 1));
    Tensor rgb = decode_jpeg_file(d / "rgb.jpg", 16);
    REQUIRE(rgb.shape() == Shape{3, 16, 16});
    // JPEG at quality 95 reproduces a flat colour to within a few levels.
    CHECK(count_far(rgb.select(0, 0), 200, 3) == 0);
    CHECK(count_far(rgb.select(0, 1), 100, 3) == 0);
    CHECK(count_far(rgb.select(0, 2), 50, 3) == 0);
    Tensor gray = decode_jpeg_file(d / "gray.jpg", 24, 30);
    REQUIRE(gray.shape() == Shape{3, 24, 24});
    CHECK(count_far(gray, 128, 2) == 0);
    CHECK(gray.select(0, 0).to_vector<std::int64_t>() == gray.select(0, 2).to_vector<std::int64_t>());
    // Upscaling works too (bilinear).
    CHECK(decode_jpeg_file(d / "gray.jpg", 100).shape() == Shape{3, 100, 100});
}

TEST_CASE("jpeg resize keeps the aspect ratio and crops the center") {
    TempDir d;
    // 96 x 48: columns 24..71 white, the outer quarters black. Shorter side 48 -> 16 makes it
    // 32 x 16, and the center 16 x 16 crop is exactly the white band.
    const int w = 96, h = 48;
    Bytes px;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) px.push_back(x >= 24 && x < 72 ? 255 : 0);
    write_bytes(d / "band.jpg", encode_jpeg(px, w, h, 1));
    Tensor out = decode_jpeg_file(d / "band.jpg", 16);
    REQUIRE(out.shape() == Shape{3, 16, 16});
    // The outer output columns touch the black edge through the filter (radius 3 input pixels) and
    // JPEG ringing; columns 2..13 lie well inside the band.
    CHECK(count_far(out.narrow(2, 2, 12), 255, 6) == 0);
    // Left half white, right half black: a centered crop (original columns 24..71) is white on the
    // left of the output and black on the right; a crop at either end would be one colour.
    Bytes half;
    for (int y = 0; y < h; ++y)
        for (int x = 0; x < w; ++x) half.push_back(x < 48 ? 255 : 0);
    write_bytes(d / "half.jpg", encode_jpeg(half, w, h, 1));
    Tensor c = decode_jpeg_file(d / "half.jpg", 16);
    CHECK(count_far(c.narrow(2, 0, 6), 255, 6) == 0);
    CHECK(count_far(c.narrow(2, 10, 6), 0, 6) == 0);
}

TEST_CASE("jpeg reader rejects a png in disguise and a truncated jpeg naming the path") {
    TempDir d;
    write_bytes(d / "fake.JPEG", png_in_disguise());
    CHECK_THROWS_WITH_AS(decode_jpeg_file(d / "fake.JPEG", 16),
                         has(d / "fake.JPEG" + ": not a JPEG: expected the JPEG signature FF D8 FF, "
                                                             "found 89 50 4E 47 0D 0A 1A 0A (a PNG file)"),
                         Error);
    write_bytes(d / "empty.JPEG", {});
    CHECK_THROWS_WITH_AS(decode_jpeg_file(d / "empty.JPEG", 16), has("found nothing (empty file)"),
                         Error);
    // A busy image, so most of the file is scan data, cut in the middle of the scan.
    Bytes busy;
    for (int i = 0; i < 64 * 64 * 3; ++i) busy.push_back(std::uint8_t((i * 7919) % 253));
    Bytes jpg = encode_jpeg(busy, 64, 64, 3);
    write_bytes(d / "cut.JPEG", Bytes(jpg.begin(), jpg.begin() + std::ptrdiff_t(jpg.size() * 3 / 4)));
    CHECK_THROWS_WITH_AS(decode_jpeg_file(d / "cut.JPEG", 16), has(d / "cut.JPEG" + ": JPEG decoding failed"),
                         Error);
}

TEST_CASE("jpeg reader rejects cmyk naming the path") {
    TempDir d;
    // libjpeg-turbo writes CMYK pixels as a YCCK JPEG (Adobe's convention for print files).
    Bytes cmyk;
    for (int i = 0; i < 16 * 16; ++i) cmyk.insert(cmyk.end(), {10, 20, 30, 40});
    tjhandle tj = tjInitCompress();
    REQUIRE(tj != nullptr);
    unsigned char* out = nullptr;
    unsigned long size = 0;
    REQUIRE(tjCompress2(tj, cmyk.data(), 16, 0, 16, TJPF_CMYK, &out, &size, TJSAMP_444, 90, 0) == 0);
    write_bytes(d / "print.JPEG", Bytes(out, out + size));
    tjFree(out);
    tjDestroy(tj);
    CHECK_THROWS_WITH_AS(decode_jpeg_file(d / "print.JPEG", 8),
                         has(d / "print.JPEG" + ": CMYK/YCCK JPEG is not supported"), Error);
}

TEST_CASE("imagenet folders sort WNIDs into class indices") {
    TempDir d;
    write_imagenet(d);
    ImageFolderOptions opt;
    opt.size = 8;
    opt.threads = 2;
    Splits s = load_imagenet(d.path.string(), opt);
    CHECK(s.train.class_names == std::vector<std::string>{"n01000000", "n02000000", "n03000000"});
    CHECK(s.test.class_names == s.train.class_names);
    CHECK(s.train.images.shape() == Shape{9, 3, 8, 8});
    CHECK(s.test.images.shape() == Shape{3, 3, 8, 8});
    CHECK(s.train.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 0, 0, 1, 1, 1, 2, 2, 2});
    CHECK(s.test.labels.to_vector<std::int64_t>() == std::vector<std::int64_t>{0, 1, 2});
    CHECK(s.train.name == "imagenet/train");
    CHECK(s.test.name == "imagenet/val");
    // Each image's red level says its class: red = 40 * (label + 1).
    for (std::int64_t i = 0; i < 9; ++i) {
        CAPTURE(i);
        const double red = 40.0 * double(s.train.labels.at<std::int64_t>({i}) + 1);
        CHECK(count_far(s.train.images.select(0, i).select(0, 0), red, 3) == 0);
        CHECK(count_far(s.train.images.select(0, i).select(0, 2), 200, 3) == 0);
    }
}

TEST_CASE("imagenet loading does not depend on the thread count") {
    TempDir d;
    write_imagenet(d);
    ImageFolderOptions one, three;
    one.size = three.size = 12;
    one.threads = 1;
    three.threads = 3;
    Splits a = load_imagenet(d.path.string(), one), b = load_imagenet(d.path.string(), three);
    CHECK(a.train.images.to_vector<std::int64_t>() == b.train.images.to_vector<std::int64_t>());
    CHECK(dataset_hash(a.train) == dataset_hash(b.train));
    CHECK(splits_hash(a) == splits_hash(b));
}

TEST_CASE("imagenet folder errors name the offending path") {
    TempDir d;
    write_imagenet(d);
    ImageFolderOptions opt;
    opt.size = 8;
    SUBCASE("png in disguise") {
        write_bytes(d / "train/n02000000/zz_fake.JPEG", png_in_disguise());
        CHECK_THROWS_WITH_AS(load_imagenet(d.path.string(), opt),
                             has(d / "train/n02000000/zz_fake.JPEG" + ": not a JPEG"), Error);
    }
    SUBCASE("the first bad file in order is reported with any thread count") {
        write_bytes(d / "train/n01000000/a_bad.JPEG", png_in_disguise());
        write_bytes(d / "train/n03000000/a_bad.JPEG", png_in_disguise());
        for (int t : {1, 4}) {
            opt.threads = t;
            CHECK_THROWS_WITH_AS(load_imagenet(d.path.string(), opt),
                                 has(d / "train/n01000000/a_bad.JPEG"), Error);
        }
    }
    SUBCASE("val class unknown to train") {
        write_bytes(d / "val/n09999999/x.JPEG", encode_jpeg(flat_rgb(8, 8, 1, 2, 3), 8, 8, 3));
        CHECK_THROWS_WITH_AS(load_imagenet(d.path.string(), opt),
                             has(d / "val" + ": class folder n09999999 is not one of the 3 known classes"),
                             Error);
    }
    SUBCASE("missing val") {
        fs::remove_all(d / "val");
        CHECK_THROWS_WITH_AS(load_imagenet(d.path.string(), opt), has(d / "val" + ": no such folder"),
                             Error);
    }
    SUBCASE("bad sizes") {
        opt.resize = 4;
        CHECK_THROWS_WITH_AS(load_imagenet(d.path.string(), opt),
                             has("resize (4) must be >= size (8)"), Error);
    }
}

TEST_CASE("imagenet cache is reused and a corrupt cache is rebuilt") {
    TempDir d;
    write_imagenet(d);
    ImageFolderOptions opt;
    opt.size = 10;
    opt.cache_dir = d / "cache";
    const std::vector<std::string> classes = list_class_folders(d / "train");
    ImageFolderReport r;
    Dataset first = load_image_folder(d / "train", classes, "t", opt, &r);
    CHECK_FALSE(r.cache_hit);
    CHECK(r.cache_written);
    CHECK(r.cache_warning.empty());
    REQUIRE(fs::exists(r.cache_path));
    CHECK(fs::path(r.cache_path).parent_path() == fs::path(opt.cache_dir));

    Dataset again = load_image_folder(d / "train", classes, "t", opt, &r);
    CHECK(r.cache_hit);
    CHECK_FALSE(r.cache_written);
    CHECK(dataset_hash(again) == dataset_hash(first));
    CHECK(again.class_names == first.class_names);

    // One flipped byte in the payload: ignored with a warning, decoded again, cache rewritten.
    Bytes cache = read_bytes(r.cache_path);
    cache[cache.size() - 5] ^= 0x40;
    write_bytes(r.cache_path, cache);
    Dataset rebuilt = load_image_folder(d / "train", classes, "t", opt, &r);
    CHECK_FALSE(r.cache_hit);
    CHECK(r.cache_written);
    CHECK(r.cache_warning.find("checksum mismatch") != std::string::npos);
    CHECK(dataset_hash(rebuilt) == dataset_hash(first));
    load_image_folder(d / "train", classes, "t", opt, &r);
    CHECK(r.cache_hit);

    // A truncated cache and a garbage cache are ignored too.
    cache = read_bytes(r.cache_path);
    write_bytes(r.cache_path, Bytes(cache.begin(), cache.begin() + 40));
    load_image_folder(d / "train", classes, "t", opt, &r);
    CHECK(r.cache_warning.find("truncated header") != std::string::npos);
    write_bytes(r.cache_path, Bytes(100, 7));
    load_image_folder(d / "train", classes, "t", opt, &r);
    CHECK(r.cache_warning.find("wrong magic") != std::string::npos);

    // A new image changes the file list: the stale cache is not used.
    write_bytes(d / "train/n02000000/new.JPEG", encode_jpeg(flat_rgb(20, 20, 80, 100, 200), 20, 20, 3));
    Dataset grown = load_image_folder(d / "train", classes, "t", opt, &r);
    CHECK_FALSE(r.cache_hit);
    CHECK(r.cache_warning.find("changed") != std::string::npos);
    CHECK(grown.size() == first.size() + 1);

    // The same folder reached through another path uses the same cache.
    ImageFolderReport rel;
    load_image_folder(d / "train/../train", classes, "t", opt, &rel);
    CHECK(rel.cache_hit);

    // Another size is another cache file.
    ImageFolderOptions other = opt;
    other.size = 6;
    ImageFolderReport r6;
    load_image_folder(d / "train", classes, "t", other, &r6);
    CHECK(r6.cache_path != r.cache_path);
    CHECK(r6.cache_warning.empty());
}

// ---- hash -----------------------------------------------------------------------------------------

namespace {

Dataset toy_dataset() {
    Dataset d;
    d.name = "toy";
    d.images = Tensor::empty({3, 2, 4, 5}, DType::u8);
    std::uint8_t* p = d.images.data<std::uint8_t>();
    for (std::int64_t i = 0; i < d.images.numel(); ++i) p[i] = std::uint8_t(i * 7 % 256);
    d.labels = Tensor::from_vector<std::int64_t>({2, 0, 1});
    d.num_classes = 3;
    return d;
}

}  // namespace

TEST_CASE("dataset hash is a pinned function of the content") {
    Dataset d = toy_dataset();
    const std::string h = dataset_hash(d);
    CHECK(h.size() == 16);
    CHECK(h.find_first_not_of("0123456789abcdef") == std::string::npos);
    // Pinned (the values were computed by an independent Python transcription of hash.h's
    // definition): a change here changes every recorded hash, so it must be a version bump.
    CHECK(h == "2d856270bea6d05d");
    CHECK(hash_hex(hash_bytes("", 0)) == "f52a15e9a9b5e89b");
    CHECK(hash_hex(hash_bytes("abc", 3)) == "408c2e326e5adec4");
    // Names are not content.
    Dataset renamed = toy_dataset();
    renamed.name = "other";
    renamed.class_names = {"a", "b", "c"};
    CHECK(dataset_hash(renamed) == h);
}

TEST_CASE("dataset hash changes with one pixel one label or the shape") {
    Dataset base = toy_dataset();
    const std::string h = dataset_hash(base);
    Dataset pixel = toy_dataset();
    pixel.images.data<std::uint8_t>()[57] ^= 1;
    CHECK(dataset_hash(pixel) != h);
    Dataset label = toy_dataset();
    label.labels.data<std::int64_t>()[1] = 2;
    CHECK(dataset_hash(label) != h);
    Dataset reshaped = toy_dataset();
    reshaped.images = reshaped.images.reshape({3, 2, 5, 4});
    CHECK(dataset_hash(reshaped) != h);
    Dataset coarse = toy_dataset();
    coarse.coarse_labels = Tensor::from_vector<std::int64_t>({0, 0, 0});
    CHECK(dataset_hash(coarse) != h);
    // Float images (the Gaussian randomization) hash too, and differently from equal u8 values.
    Dataset floats = toy_dataset();
    floats.images = floats.images.to(DType::f32);
    CHECK(dataset_hash(floats) != h);
    CHECK(dataset_hash(floats) == dataset_hash(floats));
    // A non-contiguous view hashes like its contiguous copy.
    Dataset view = toy_dataset();
    view.images = view.images.permute({0, 1, 3, 2}).contiguous().permute({0, 1, 3, 2});
    CHECK(dataset_hash(view) == h);
}

TEST_CASE("hash_bytes does not depend on the thread count") {
    // 5 MiB + 3 bytes: several 1 MiB chunks and a partial last word.
    Bytes big(5 * (1 << 20) + 3);
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = std::uint8_t((i * 2654435761u) >> 13);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(1);
    const std::uint64_t one = hash_bytes(big.data(), big.size());
    omp_set_num_threads(2);
    const std::uint64_t two = hash_bytes(big.data(), big.size());
    omp_set_num_threads(saved);
    CHECK(one == two);
    big[3 * (1 << 20) + 11] ^= 0x80;
    CHECK(hash_bytes(big.data(), big.size()) != one);
}

