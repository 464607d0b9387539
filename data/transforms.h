#pragma once
// Batch transforms on images (N, C, H, W): crops, flips, u8 -> float conversion, per-image
// whitening, per-channel normalization, and a Pipeline that chains them with reproducible random
// draws. The randomization tests live in randomize.h, batching in loader.h.
//
// Every function takes the batch by const reference and returns a fresh contiguous tensor it has
// assigned in full; loops run over images under OpenMP, so results never depend on the thread count.
// Random draws: image n of a batch uses the Philox block at (gen.seed, gen.stream, gen.offset + n),
// and the call then advances gen.offset by N (the convention of tensor/random.h), so an image's draw
// depends on its position, never on the batch it happens to be in.
#include <cmath>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace gs::data {

// ---- the formulas, once -----------------------------------------------------------------------

// TensorFlow's per_image_standardization (formerly per_image_whitening) for one image of n values:
// (x - mean) / max(std, 1/sqrt(n)), std the population standard deviation. The floor keeps a
// constant image finite (it maps to 0).
struct Whiten {
    double mean;
    double adjusted_std;
    static Whiten from_moments(double mean, double variance, std::int64_t n) {
        const double floor = 1.0 / std::sqrt(double(n));
        const double sd = std::sqrt(variance);
        return {mean, sd > floor ? sd : floor};
    }
    template <class T> T operator()(T x) const { return T((double(x) - mean) / adjusted_std); }
};

// (x - mean_c) / std_c for one channel.
struct Normalize {
    double mean;
    double std;
    template <class T> T operator()(T x) const { return T((double(x) - mean) / std); }
};

// ---- deterministic transforms -------------------------------------------------------------------

// images: u8, f32 or f64 (N, C, H, W) (any rank works: elementwise) -> `dtype` (f32 or f64) with
// value x * scale. The default 1/255 maps stored u8 pixels to [0, 1] (papers.md §1.1); float images
// in pixel units (a Gaussian randomization) get the same scale, so both kinds land on one scale.
Tensor to_float(const Tensor& images, DType dtype = DType::f32, double scale = 1.0 / 255.0);

// images: any dtype (N, C, H, W) -> (N, C, OH, OW), the window at top = (H - OH) / 2 and
// left = (W - OW) / 2 (integer division: TensorFlow's resize_image_with_crop_or_pad offsets).
Tensor center_crop(const Tensor& images, std::int64_t OH, std::int64_t OW);

// images: any dtype (N, C, H, W) -> (N, C, H + 2p, W + 2p), the image in the middle and zeros
// around it: how 28x28 images get room for random 28x28 crops (pad 2 + random_crop(28, 28)).
Tensor pad(const Tensor& images, std::int64_t p);

// images: any dtype (N, C, H, W); offsets: i64 (N, 2) holding (top, left) per image with
// 0 <= top <= H - OH and 0 <= left <= W - OW -> (N, C, OH, OW).
Tensor crop(const Tensor& images, const Tensor& offsets, std::int64_t OH, std::int64_t OW);

// images: any dtype (N, C, H, W); flags: u8 (N), nonzero = mirror that image left-right.
Tensor flip_horizontal(const Tensor& images, const Tensor& flags);

// images: f32 or f64 (N, C, H, W) -> same dtype, each image whitened over its C*H*W values (Whiten).
// Statistics are accumulated in f64.
Tensor per_image_whitening(const Tensor& images);

// images: f32 or f64 (N, C, H, W); mean, std: C entries each (std > 0) -> (x - mean_c) / std_c.
Tensor normalize(const Tensor& images, const std::vector<double>& mean, const std::vector<double>& std);

// ---- random draws ---------------------------------------------------------------------------------

// i64 (N, 2) crop offsets (top, left), uniform over the (H - OH + 1) x (W - OW + 1) windows.
Tensor random_crop_offsets(std::int64_t N, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                           Generator& gen);
// u8 (N) flip flags, each 1 with probability p.
Tensor random_flip_flags(std::int64_t N, Generator& gen, double p = 0.5);

// Draw + apply: crop(images, random_crop_offsets(...)), flip_horizontal(images, random_flip_flags(...)).
Tensor random_crop(const Tensor& images, std::int64_t OH, std::int64_t OW, Generator& gen);
Tensor random_flip(const Tensor& images, Generator& gen, double p = 0.5);

// ---- pipeline -------------------------------------------------------------------------------------

// One step: images in, images out. Random steps draw from `gen` per the convention above;
// deterministic ones ignore it.
using TransformFn = std::function<Tensor(const Tensor& images, Generator& gen)>;

// The stream of step `step` in epoch `epoch`: a fixed tag ("AUG") in the high bits, then the epoch
// and the step index, so steps and epochs never share Philox counters.
std::uint64_t augment_stream(std::int64_t epoch, std::size_t step);

// An ordered list of steps. Running it on a batch whose first image sits at `position` of epoch
// `epoch` gives step k the generator Generator(seed, augment_stream(epoch, k)) at offset `position`:
// every random draw is a pure function of (seed, epoch, position of the image in the epoch), so a
// resumed run reproduces its augmentation. The builder methods append a step and return *this.
class Pipeline {
public:
    Pipeline& add(std::string name, TransformFn fn);
    Pipeline& to_float(DType dtype = DType::f32, double scale = 1.0 / 255.0);
    Pipeline& center_crop(std::int64_t OH, std::int64_t OW);
    Pipeline& pad(std::int64_t p);
    Pipeline& random_crop(std::int64_t OH, std::int64_t OW);
    Pipeline& random_flip(double p = 0.5);
    Pipeline& whiten();
    Pipeline& normalize(std::vector<double> mean, std::vector<double> std);

    Tensor operator()(const Tensor& images, std::uint64_t seed, std::int64_t epoch, std::int64_t position) const;
    bool empty() const { return steps_.empty(); }
    std::size_t size() const { return steps_.size(); }
    // "center_crop(28x28) -> to_float(f32, /255) -> whiten": for logs and run metadata.
    std::string describe() const;

private:
    struct Step {
        std::string name;
        TransformFn fn;
    };
    std::vector<Step> steps_;
};

// Zhang et al.'s preprocessing (papers.md §1.1): crop to size x size (center, or random for the
// "random crop" rows of Table 1), divide by 255, per-image whitening; f32 out. The crop runs first,
// on the stored pixels: cropping commutes with the elementwise scale and touches fewer bytes.
Pipeline zhang_pipeline(bool random_crop, std::int64_t size = 28);

}  // namespace gs::data
