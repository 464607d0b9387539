#pragma once
// The randomization tests of Zhang et al. 2017, §2.1 (papers.md §1.4): label corruption, pixel
// permutations and Gaussian images, drawn once as a pure function of (dataset, kind, p, seed) and
// recorded so a run can re-apply exactly the same randomization. Readers and the loader live elsewhere.
//
// Conventions (why, in brief):
// - Randomness: every draw is a Philox block keyed by (seed, stream, offset) with one stream per
//   purpose and split and the offset derived from the example index, so results never depend on the
//   thread count and train/test draws never overlap.
// - Pixel permutations move whole pixels by default (PixelUnit::position: the C values at one
//   (h, w) travel together, a permutation of H*W positions), because the paper permutes "pixels"
//   and a CIFAR pixel is an RGB triple. PixelUnit::value permutes all C*H*W values independently.
// - Gaussian images are f32 (N, C, H, W) in pixel units (the scale of the stored u8 values), with
//   the training set's per-channel mean and population variance. Rounding to u8 would clip the
//   tails at 0/255 and quantize, so the moments would no longer match; keeping f32 is exact and
//   the transforms (to_float divides by 255) accept u8 and float images alike.
// - By default label corruption touches the training split only and pixel transforms touch both
//   splits (the paper); the two switches in Randomization change that.
#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "data/dataset.h"
#include "tensor/tensor.h"

namespace gs::data {

enum class RandomizationKind : std::uint8_t {
    true_labels,      // unchanged
    partial_labels,   // each label, with probability p, replaced by a uniform class
    random_labels,    // p = 1
    shuffled_pixels,  // one permutation of pixel positions for every image of both splits
    random_pixels,    // an independent permutation per image
    gaussian,         // images replaced by N(mean_c, var_c) noise, per channel c of the train set
};

// What a pixel permutation moves.
enum class PixelUnit : std::uint8_t {
    position,  // permutes the H*W positions; the C channel values of a pixel move together
    value,     // permutes all C*H*W values of an image independently
};

// "true_labels", "partial_labels", ... and back; parse throws listing the valid names.
const char* randomization_name(RandomizationKind kind);
RandomizationKind parse_randomization(std::string_view name);

struct Randomization {
    RandomizationKind kind = RandomizationKind::true_labels;
    double p = 0.0;                 // corruption probability (partial_labels); random_labels uses 1
    bool always_different = false;  // a corrupted label is drawn from the other K-1 classes
    std::uint64_t seed = 0;
    PixelUnit pixel_unit = PixelUnit::position;
    bool corrupt_test_labels = false;   // the paper corrupts training labels only
    bool transform_test_pixels = true;  // the paper applies pixel transforms to the test set too
};

// Everything that was drawn, enough to re-apply the randomization and to check that it is the same.
struct RandomizationRecord {
    Randomization config;
    // The dataset it was drawn for: sizes and a CRC-32 of the original labels (i64 bytes).
    std::int64_t train_size = 0, test_size = 0, channels = 0, height = 0, width = 0, num_classes = 0;
    std::uint32_t train_labels_crc = 0, test_labels_crc = 0;
    // Label kinds: the new labels (i64 (N)) and which examples were drawn for corruption (u8 (N),
    // 1 = corrupted; with always_different=false a corrupted label can equal the old one). The test
    // tensors are undefined unless config.corrupt_test_labels.
    Tensor train_labels, train_corrupted, test_labels, test_corrupted;
    // shuffled_pixels: the permutation (i64 (P), P = H*W or C*H*W per pixel_unit); output value at
    // position q is the input value at position permutation[q].
    Tensor pixel_permutation;
    // gaussian: the training set's per-channel mean and population std (f64 (C)), pixel units.
    Tensor channel_mean, channel_std;
    // random_pixels and gaussian: the per-image data is re-derived from the seed rather than stored
    // (CIFAR's per-image permutations alone are 50000 x 3072 indices); these 64-bit digests of what
    // was drawn (permutations, resp. the f32 image bytes) let reapply() prove it drew the same.
    std::uint64_t train_digest = 0, test_digest = 0;
};

struct RandomizedSplits {
    Splits data;
    RandomizationRecord record;
};

// Applies `r` to both splits. Deterministic in (splits, r) and independent of the thread count.
// images: u8 or f32 (N, C, H, W), the same C, H, W in both splits; labels: i64 (N) in [0, K).
// Untouched fields share storage with the input (tensors are treated as immutable); changed ones
// are fresh. Dataset names get "+<kind>" appended. gaussian needs a non-empty training split;
// always_different needs K >= 2; p must lie in [0, 1].
RandomizedSplits randomize(const Splits& splits, const Randomization& r);

// Re-applies a saved record to the same original data: labels and the shuffled permutation are
// taken from the record, random pixels and Gaussian images are re-drawn from the seed and checked
// against the recorded digests. Throws naming the mismatch when the data or the draw differs.
Splits reapply(const Splits& splits, const RandomizationRecord& record);

// Writes the record atomically (temp file in the same folder, fsync, rename): a binary file with a
// magic "GSRAND01", a version, the payload and its CRC-32. load_record verifies all of it and throws
// naming the file and what is wrong (truncated, bad magic, checksum mismatch, ...).
void save_record(const RandomizationRecord& record, const std::filesystem::path& path);
RandomizationRecord load_record(const std::filesystem::path& path);

// Fraction of positions where two i64 label tensors of equal shape differ (0 for empty ones).
double fraction_changed(const Tensor& before, const Tensor& after);

// CRC-32 (zlib polynomial) of a contiguous tensor's bytes; used to fingerprint labels.
std::uint32_t tensor_crc32(const Tensor& t);

}  // namespace gs::data
