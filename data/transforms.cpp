// Loops of the batch transforms (formulas in transforms.h) and the Pipeline.
#include "data/transforms.h"

#include <cstring>
#include <sstream>
#include <utility>

#include "tensor/philox.h"

namespace gs::data {
namespace {

// Images per batch below which OpenMP costs more than it saves.
constexpr std::int64_t kImageGrain = 16;

void check_images(const char* op, const Tensor& x) {
    GS_CHECK(x.defined(), op, ": undefined images");
    GS_CHECK(x.dim() == 4, op, ": expected images (N, C, H, W), got ", x.describe());
    GS_CHECK(x.device().is_cpu(), op, ": images must be on the CPU, got ", x.describe());
}

std::uint64_t bits64(const PhiloxBlock& b, int first) { return std::uint64_t(b[first]) << 32 | b[first + 1]; }

std::int64_t uniform_below(std::uint64_t bits, std::int64_t range) {
    return std::int64_t((static_cast<unsigned __int128>(bits) * std::uint64_t(range)) >> 64);
}

// Copies window (top, left, OH, OW) of every channel of one image. src: (C, H, W), dst: (C, OH, OW).
template <class T>
void crop_image(const T* src, T* dst, std::int64_t C, std::int64_t H, std::int64_t W, std::int64_t top,
                std::int64_t left, std::int64_t OH, std::int64_t OW) {
    for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t i = 0; i < OH; ++i)
            std::memcpy(dst + (c * OH + i) * OW, src + (c * H + top + i) * W + left, std::size_t(OW) * sizeof(T));
}

// offsets: (top, left) per image, or a single pair for all when `shared`.
Tensor crop_impl(const Tensor& images, const std::int64_t* offsets, bool shared, std::int64_t OH,
                 std::int64_t OW) {
    const Tensor x = images.contiguous();
    const std::int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    Tensor out = Tensor::empty({N, C, OH, OW}, x.dtype());
    visit_dtype(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* src = x.data<T>();
        T* dst = out.data<T>();
#pragma omp parallel for if (N >= kImageGrain) schedule(static)
        for (std::int64_t n = 0; n < N; ++n) {
            const std::int64_t* o = shared ? offsets : offsets + 2 * n;
            crop_image(src + n * C * H * W, dst + n * C * OH * OW, C, H, W, o[0], o[1], OH, OW);
        }
    });
    return out;
}

void check_crop_size(const char* op, const Tensor& x, std::int64_t OH, std::int64_t OW) {
    check_images(op, x);
    GS_CHECK(OH >= 1 && OW >= 1 && OH <= x.size(2) && OW <= x.size(3), op, ": crop ", OH, "x", OW,
             " does not fit images ", x.describe());
}

}  // namespace

Tensor to_float(const Tensor& images, DType dtype, double scale) {
    GS_CHECK(images.defined() && images.device().is_cpu(), "to_float: expected defined CPU images");
    GS_CHECK(is_floating(dtype), "to_float: target dtype must be f32 or f64, got ", dtype_name(dtype));
    GS_CHECK(images.dtype() != DType::i64, "to_float: expected u8, f32 or f64 images, got ", images.describe());
    const Tensor x = images.contiguous();
    Tensor out = Tensor::empty(x.shape(), dtype);
    const std::int64_t n = x.numel();
    visit_dtype(x.dtype(), [&](auto in_tag) {
        using S = decltype(in_tag);
        visit_float(dtype, "to_float", [&](auto out_tag) {
            using T = decltype(out_tag);
            const S* src = x.data<S>();
            T* dst = out.data<T>();
            // The scale is applied in the output type: for u8 -> f32 this is x * (1/255) in float,
            // exactly what numpy / TF produce for image / 255.0 cast to f32 up to one rounding.
            const T s = T(scale);
#pragma omp parallel for if (n >= 65536) schedule(static)
            for (std::int64_t i = 0; i < n; ++i) dst[i] = T(src[i]) * s;
        });
    });
    return out;
}

Tensor center_crop(const Tensor& images, std::int64_t OH, std::int64_t OW) {
    check_crop_size("center_crop", images, OH, OW);
    const std::int64_t o[2] = {(images.size(2) - OH) / 2, (images.size(3) - OW) / 2};
    return crop_impl(images, o, true, OH, OW);
}

Tensor crop(const Tensor& images, const Tensor& offsets, std::int64_t OH, std::int64_t OW) {
    check_crop_size("crop", images, OH, OW);
    const std::int64_t N = images.size(0), H = images.size(2), W = images.size(3);
    GS_CHECK(offsets.defined() && offsets.dtype() == DType::i64 && offsets.dim() == 2 && offsets.size(0) == N &&
                 offsets.size(1) == 2,
             "crop: offsets must be i64 (", N, ", 2), got ", offsets.defined() ? offsets.describe() : "undefined");
    const Tensor o = offsets.contiguous();
    const auto* p = o.data<std::int64_t>();
    for (std::int64_t n = 0; n < N; ++n)
        GS_CHECK(p[2 * n] >= 0 && p[2 * n] <= H - OH && p[2 * n + 1] >= 0 && p[2 * n + 1] <= W - OW, "crop: offset (",
                 p[2 * n], ", ", p[2 * n + 1], ") of image ", n, " puts a ", OH, "x", OW, " window outside ", H, "x", W);
    return crop_impl(images, p, false, OH, OW);
}

Tensor pad(const Tensor& images, std::int64_t p) {
    check_images("pad", images);
    GS_CHECK(p >= 0, "pad: the padding must not be negative, got ", p);
    const Tensor x = images.contiguous();
    const std::int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    Tensor out = Tensor::zeros({N, C, H + 2 * p, W + 2 * p}, x.dtype());
    // A view of the middle of `out`, filled by one strided copy.
    out.narrow(2, p, H).narrow(3, p, W).copy_(x);
    return out;
}

Tensor flip_horizontal(const Tensor& images, const Tensor& flags) {
    check_images("flip_horizontal", images);
    const Tensor x = images.contiguous();
    const std::int64_t N = x.size(0), C = x.size(1), H = x.size(2), W = x.size(3);
    GS_CHECK(flags.defined() && flags.dtype() == DType::u8 && flags.dim() == 1 && flags.size(0) == N,
             "flip_horizontal: flags must be u8 (", N, "), got ", flags.defined() ? flags.describe() : "undefined");
    const Tensor f = flags.contiguous();
    const auto* fp = f.data<std::uint8_t>();
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    visit_dtype(x.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* src = x.data<T>();
        T* dst = out.data<T>();
#pragma omp parallel for if (N >= kImageGrain) schedule(static)
        for (std::int64_t n = 0; n < N; ++n) {
            const std::int64_t rows = C * H;
            const T* s = src + n * rows * W;
            T* d = dst + n * rows * W;
            if (fp[n] == 0) {
                std::memcpy(d, s, std::size_t(rows * W) * sizeof(T));
                continue;
            }
            for (std::int64_t r = 0; r < rows; ++r)
                for (std::int64_t w = 0; w < W; ++w) d[r * W + w] = s[r * W + (W - 1 - w)];
        }
    });
    return out;
}

Tensor per_image_whitening(const Tensor& images) {
    check_images("per_image_whitening", images);
    const Tensor x = images.contiguous();
    const std::int64_t N = x.size(0), M = x.size(1) * x.size(2) * x.size(3);
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    if (M == 0) return out;
    visit_float(x.dtype(), "per_image_whitening", [&](auto tag) {
        using T = decltype(tag);
        const T* src = x.data<T>();
        T* dst = out.data<T>();
#pragma omp parallel for if (N >= kImageGrain) schedule(static)
        for (std::int64_t n = 0; n < N; ++n) {
            const T* s = src + n * M;
            double sum = 0.0;
            for (std::int64_t i = 0; i < M; ++i) sum += double(s[i]);
            const double mean = sum / double(M);
            double ss = 0.0;  // second pass about the mean: no cancellation
            for (std::int64_t i = 0; i < M; ++i) {
                const double d = double(s[i]) - mean;
                ss += d * d;
            }
            const Whiten f = Whiten::from_moments(mean, ss / double(M), M);
            T* d = dst + n * M;
            for (std::int64_t i = 0; i < M; ++i) d[i] = f(s[i]);
        }
    });
    return out;
}

Tensor normalize(const Tensor& images, const std::vector<double>& mean, const std::vector<double>& std) {
    check_images("normalize", images);
    const Tensor x = images.contiguous();
    const std::int64_t N = x.size(0), C = x.size(1), HW = x.size(2) * x.size(3);
    GS_CHECK(std::int64_t(mean.size()) == C && std::int64_t(std.size()) == C, "normalize: images ", x.describe(),
             " have ", C, " channels but mean has ", mean.size(), " and std ", std.size(), " entries");
    for (std::size_t c = 0; c < std.size(); ++c)
        GS_CHECK(std[c] > 0.0, "normalize: std[", c, "] = ", std[c], " must be positive");
    Tensor out = Tensor::empty(x.shape(), x.dtype());
    visit_float(x.dtype(), "normalize", [&](auto tag) {
        using T = decltype(tag);
        const T* src = x.data<T>();
        T* dst = out.data<T>();
#pragma omp parallel for if (N >= kImageGrain) schedule(static)
        for (std::int64_t n = 0; n < N; ++n)
            for (std::int64_t c = 0; c < C; ++c) {
                const Normalize f{mean[std::size_t(c)], std[std::size_t(c)]};
                const std::int64_t base = (n * C + c) * HW;
                for (std::int64_t i = 0; i < HW; ++i) dst[base + i] = f(src[base + i]);
            }
    });
    return out;
}

Tensor random_crop_offsets(std::int64_t N, std::int64_t H, std::int64_t W, std::int64_t OH, std::int64_t OW,
                           Generator& gen) {
    GS_CHECK(N >= 0 && OH >= 1 && OW >= 1 && OH <= H && OW <= W, "random_crop: crop ", OH, "x", OW,
             " does not fit ", H, "x", W, " images (N = ", N, ")");
    Tensor out = Tensor::empty({N, 2}, DType::i64);
    auto* o = out.data<std::int64_t>();
    const Generator g = gen;
    for (std::int64_t n = 0; n < N; ++n) {
        const PhiloxBlock b = Philox4x32::generate(g.seed, g.stream, g.offset + std::uint64_t(n));
        o[2 * n] = uniform_below(bits64(b, 0), H - OH + 1);
        o[2 * n + 1] = uniform_below(bits64(b, 2), W - OW + 1);
    }
    gen.offset += std::uint64_t(N);
    return out;
}

Tensor random_flip_flags(std::int64_t N, Generator& gen, double p) {
    GS_CHECK(N >= 0 && p >= 0.0 && p <= 1.0, "random_flip: probability ", p, " outside [0, 1] (N = ", N, ")");
    Tensor out = Tensor::empty({N}, DType::u8);
    auto* f = out.data<std::uint8_t>();
    const Generator g = gen;
    for (std::int64_t n = 0; n < N; ++n) {
        const PhiloxBlock b = Philox4x32::generate(g.seed, g.stream, g.offset + std::uint64_t(n));
        f[n] = Philox4x32::to_double(b[0], b[1]) < p ? 1 : 0;
    }
    gen.offset += std::uint64_t(N);
    return out;
}

Tensor random_crop(const Tensor& images, std::int64_t OH, std::int64_t OW, Generator& gen) {
    check_crop_size("random_crop", images, OH, OW);
    const Tensor offsets = random_crop_offsets(images.size(0), images.size(2), images.size(3), OH, OW, gen);
    return crop_impl(images, offsets.data<std::int64_t>(), false, OH, OW);
}

Tensor random_flip(const Tensor& images, Generator& gen, double p) {
    check_images("random_flip", images);
    return flip_horizontal(images, random_flip_flags(images.size(0), gen, p));
}

// ---- Pipeline ----------------------------------------------------------------------------------------

std::uint64_t augment_stream(std::int64_t epoch, std::size_t step) {
    GS_CHECK(epoch >= 0 && epoch < (std::int64_t(1) << 32) && step < 256, "augment_stream: epoch ", epoch,
             " or step ", step, " out of range");
    constexpr std::uint64_t kTag = 0x415547ull << 40;  // "AUG"
    return kTag | (std::uint64_t(epoch) << 8) | std::uint64_t(step);
}

Pipeline& Pipeline::add(std::string name, TransformFn fn) {
    GS_CHECK(fn != nullptr, "Pipeline::add: step '", name, "' has no function");
    GS_CHECK(steps_.size() < 256, "Pipeline::add: at most 256 steps");
    steps_.push_back({std::move(name), std::move(fn)});
    return *this;
}

Pipeline& Pipeline::to_float(DType dtype, double scale) {
    std::ostringstream name;
    name << "to_float(" << dtype_name(dtype) << ", x" << scale << ")";
    return add(name.str(), [=](const Tensor& x, Generator&) { return gs::data::to_float(x, dtype, scale); });
}

Pipeline& Pipeline::center_crop(std::int64_t OH, std::int64_t OW) {
    return add("center_crop(" + std::to_string(OH) + "x" + std::to_string(OW) + ")",
               [=](const Tensor& x, Generator&) { return gs::data::center_crop(x, OH, OW); });
}

Pipeline& Pipeline::pad(std::int64_t p) {
    return add("pad(" + std::to_string(p) + ")", [=](const Tensor& x, Generator&) { return gs::data::pad(x, p); });
}

Pipeline& Pipeline::random_crop(std::int64_t OH, std::int64_t OW) {
    return add("random_crop(" + std::to_string(OH) + "x" + std::to_string(OW) + ")",
               [=](const Tensor& x, Generator& g) { return gs::data::random_crop(x, OH, OW, g); });
}

Pipeline& Pipeline::random_flip(double p) {
    std::ostringstream name;
    name << "random_flip(p=" << p << ")";
    return add(name.str(), [=](const Tensor& x, Generator& g) { return gs::data::random_flip(x, g, p); });
}

Pipeline& Pipeline::whiten() {
    return add("whiten", [](const Tensor& x, Generator&) { return per_image_whitening(x); });
}

Pipeline& Pipeline::normalize(std::vector<double> mean, std::vector<double> std) {
    return add("normalize", [mean = std::move(mean), std = std::move(std)](const Tensor& x, Generator&) {
        return gs::data::normalize(x, mean, std);
    });
}

Tensor Pipeline::operator()(const Tensor& images, std::uint64_t seed, std::int64_t epoch, std::int64_t position) const {
    GS_CHECK(position >= 0, "Pipeline: negative position ", position);
    Tensor x = images;
    for (std::size_t k = 0; k < steps_.size(); ++k) {
        Generator g(seed, augment_stream(epoch, k));
        g.offset = std::uint64_t(position);
        x = steps_[k].fn(x, g);
    }
    return x;
}

std::string Pipeline::describe() const {
    std::string s;
    for (const auto& step : steps_) s += (s.empty() ? "" : " -> ") + step.name;
    return s.empty() ? "identity" : s;
}

Pipeline zhang_pipeline(bool random_crop, std::int64_t size) {
    Pipeline p;
    if (random_crop) p.random_crop(size, size);
    else p.center_crop(size, size);
    return p.to_float(DType::f32, 1.0 / 255.0).whiten();
}

}  // namespace gs::data
