// Randomizations of Zhang et al. §2.1 and their record file. See randomize.h for the conventions.
#include "data/randomize.h"

#include <zlib.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <numbers>
#include <utility>

#include "data/file_io.h"
#include "tensor/philox.h"
#include "tensor/random.h"

namespace gs::data {
namespace {

using Kind = RandomizationKind;

// Streams: a fixed tag in the high bits ("RAND"), the purpose, and the split (0 train, 1 test), so
// no two draws share Philox counters and none collides with streams other modules use for one seed.
enum class Purpose : std::uint64_t { labels = 1, shuffle = 2, random_pixels = 3, gaussian = 4 };
constexpr std::uint64_t kStreamTag = 0x52414E44ull << 32;
std::uint64_t stream_for(Purpose purpose, int split) {
    return kStreamTag | (std::uint64_t(purpose) << 4) | std::uint64_t(split);
}

// x * range / 2^64: maps 64 random bits onto [0, range) with bias below range / 2^64.
std::uint64_t scale_bits(std::uint64_t x, std::uint64_t range) {
    return std::uint64_t((static_cast<unsigned __int128>(x) * range) >> 64);
}

std::uint64_t bits64(const PhiloxBlock& b, int first) { return std::uint64_t(b[first]) << 32 | b[first + 1]; }

// A 64-bit digest of a byte range (8-byte words, murmur-style mixing); order-sensitive.
std::uint64_t digest_bytes(const void* data, std::size_t n, std::uint64_t h = 0x9E3779B97F4A7C15ull) {
    const auto* p = static_cast<const unsigned char*>(data);
    auto mix = [&](std::uint64_t w) {
        w *= 0xFF51AFD7ED558CCDull;
        w ^= w >> 33;
        h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
        h ^= h >> 29;
    };
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        std::uint64_t w;
        std::memcpy(&w, p + i, 8);
        mix(w);
    }
    std::uint64_t tail = 0;
    std::memcpy(&tail, p + i, n - i);
    mix(tail ^ (std::uint64_t(n) << 56));
    return h;
}

// Combines per-image digests in index order, so the result does not depend on which thread made which.
std::uint64_t combine(const std::vector<std::uint64_t>& per_image) {
    return digest_bytes(per_image.data(), per_image.size() * sizeof(std::uint64_t));
}

void check_split(const Dataset& d, const char* split) {
    GS_CHECK(d.images.defined() && d.labels.defined(), "randomize: the ", split, " split '", d.name,
             "' has undefined images or labels");
    GS_CHECK(d.images.dim() == 4, "randomize: ", split, " images of '", d.name, "' must be (N, C, H, W), got ",
             d.images.describe());
    GS_CHECK(d.images.dtype() == DType::u8 || d.images.dtype() == DType::f32, "randomize: ", split, " images of '",
             d.name, "' must be u8 or f32, got ", d.images.describe());
    GS_CHECK(d.labels.dtype() == DType::i64 && d.labels.dim() == 1 && d.labels.size(0) == d.images.size(0),
             "randomize: ", split, " labels of '", d.name, "' must be i64 (", d.images.size(0), "), got ",
             d.labels.describe());
    GS_CHECK(d.images.device().is_cpu() && d.labels.device().is_cpu(), "randomize: '", d.name,
             "' must be on the CPU");
}

void check_label_range(const Tensor& labels, std::int64_t K, const std::string& name) {
    const auto* y = labels.data<std::int64_t>();
    for (std::int64_t i = 0; i < labels.numel(); ++i)
        GS_CHECK(y[i] >= 0 && y[i] < K, "randomize: label ", y[i], " of example ", i, " in '", name,
                 "' is outside [0, ", K, ")");
}

// Label corruption of one split. Example i uses the Philox block at offset i of its stream: the
// first 64 bits decide whether it is corrupted (u < p), the last 64 draw the new class.
std::pair<Tensor, Tensor> corrupt_labels(const Tensor& labels_in, std::int64_t K, double p, bool always_different,
                                         std::uint64_t seed, std::uint64_t stream) {
    const Tensor labels = labels_in.contiguous();
    const std::int64_t N = labels.numel();
    Tensor out = Tensor::empty({N}, DType::i64);
    Tensor mask = Tensor::empty({N}, DType::u8);
    const auto* y = labels.data<std::int64_t>();
    auto* o = out.data<std::int64_t>();
    auto* m = mask.data<std::uint8_t>();
    const std::uint64_t range = std::uint64_t(always_different ? K - 1 : K);
#pragma omp parallel for if (N >= 4096) schedule(static)
    for (std::int64_t i = 0; i < N; ++i) {
        const PhiloxBlock b = Philox4x32::generate(seed, stream, std::uint64_t(i));
        const bool corrupt = Philox4x32::to_double(b[0], b[1]) < p;
        auto r = std::int64_t(scale_bits(bits64(b, 2), range));
        // Skipping the old class maps [0, K-1) uniformly onto the other K-1 classes.
        if (always_different && r >= y[i]) ++r;
        o[i] = corrupt ? r : y[i];
        m[i] = corrupt ? 1 : 0;
    }
    return {out, mask};
}

std::int64_t pixel_count(const Tensor& images, PixelUnit unit) {
    const std::int64_t HW = images.size(2) * images.size(3);
    return unit == PixelUnit::position ? HW : images.size(1) * HW;
}

// Writes image `src` permuted by `perm` into `dst`: dst[c][q] = src[c][perm[q]] for positions
// (C planes of P = H*W), or dst[q] = src[perm[q]] over all P = C*H*W values.
template <class T>
void permute_image(const T* src, T* dst, const std::int64_t* perm, std::int64_t C, std::int64_t HW, PixelUnit unit) {
    if (unit == PixelUnit::value) {
        for (std::int64_t q = 0; q < C * HW; ++q) dst[q] = src[perm[q]];
        return;
    }
    for (std::int64_t c = 0; c < C; ++c)
        for (std::int64_t q = 0; q < HW; ++q) dst[c * HW + q] = src[c * HW + perm[q]];
}

// The same permutation applied to every image.
Tensor apply_shared_permutation(const Tensor& images_in, const Tensor& perm, PixelUnit unit) {
    const Tensor images = images_in.contiguous();
    Tensor out = Tensor::empty(images.shape(), images.dtype());
    const std::int64_t N = images.size(0), C = images.size(1), HW = images.size(2) * images.size(3);
    const auto* pp = perm.data<std::int64_t>();
    visit_dtype(images.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = images.data<T>();
        T* y = out.data<T>();
#pragma omp parallel for if (N >= 64) schedule(static)
        for (std::int64_t n = 0; n < N; ++n) permute_image(x + n * C * HW, y + n * C * HW, pp, C, HW, unit);
    });
    return out;
}

// An independent permutation per image: image n runs Fisher-Yates with the Philox blocks at
// offsets n*P + k of `stream`, so it depends only on (seed, n). Returns the permuted images and the
// digest of all permutations.
std::pair<Tensor, std::uint64_t> apply_random_pixels(const Tensor& images_in, PixelUnit unit, std::uint64_t seed,
                                                     std::uint64_t stream) {
    const Tensor images = images_in.contiguous();
    Tensor out = Tensor::empty(images.shape(), images.dtype());
    const std::int64_t N = images.size(0), C = images.size(1), HW = images.size(2) * images.size(3);
    const std::int64_t P = pixel_count(images, unit);
    std::vector<std::uint64_t> digests(std::size_t(N), 0);
    visit_dtype(images.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = images.data<T>();
        T* y = out.data<T>();
#pragma omp parallel if (N >= 64)
        {
            std::vector<std::int64_t> perm(static_cast<std::size_t>(P));
#pragma omp for schedule(static)
            for (std::int64_t n = 0; n < N; ++n) {
                for (std::int64_t q = 0; q < P; ++q) perm[std::size_t(q)] = q;
                for (std::int64_t k = 0; k + 1 < P; ++k) {
                    const PhiloxBlock b = Philox4x32::generate(seed, stream, std::uint64_t(n * P + k));
                    const auto j = k + std::int64_t(scale_bits(bits64(b, 0), std::uint64_t(P - k)));
                    std::swap(perm[std::size_t(k)], perm[std::size_t(j)]);
                }
                permute_image(x + n * C * HW, y + n * C * HW, perm.data(), C, HW, unit);
                digests[std::size_t(n)] = digest_bytes(perm.data(), perm.size() * sizeof(std::int64_t));
            }
        }
    });
    return {out, combine(digests)};
}

// Per-channel mean and population std of (N, C, H, W) images, in f64. Each (image, channel) sum is
// made by one thread and the sums are added in index order: the result is thread-count independent.
std::pair<Tensor, Tensor> channel_moments(const Tensor& images_in) {
    const Tensor images = images_in.contiguous();
    const std::int64_t N = images.size(0), C = images.size(1), HW = images.size(2) * images.size(3);
    GS_CHECK(N * HW > 0, "randomize: gaussian needs a non-empty training set, got images ", images.describe());
    std::vector<double> part(std::size_t(N * C));
    std::vector<double> mean(std::size_t(C), 0.0), var(std::size_t(C), 0.0);
    visit_dtype(images.dtype(), [&](auto tag) {
        using T = decltype(tag);
        const T* x = images.data<T>();
        auto pass = [&](const std::vector<double>* centre, std::vector<double>& result) {
#pragma omp parallel for if (N * C * HW >= 32768) schedule(static)
            for (std::int64_t nc = 0; nc < N * C; ++nc) {
                const double m = centre ? (*centre)[std::size_t(nc % C)] : 0.0;
                double s = 0.0;
                for (std::int64_t q = 0; q < HW; ++q) {
                    const double d = double(x[nc * HW + q]) - m;
                    s += centre ? d * d : d;
                }
                part[std::size_t(nc)] = s;
            }
            for (std::int64_t nc = 0; nc < N * C; ++nc) result[std::size_t(nc % C)] += part[std::size_t(nc)];
            for (auto& r : result) r /= double(N * HW);
        };
        pass(nullptr, mean);
        pass(&mean, var);  // two passes: no cancellation in E[x^2] - E[x]^2
    });
    std::vector<double> sd(var.size());
    for (std::size_t c = 0; c < var.size(); ++c) sd[c] = std::sqrt(var[c]);
    return {Tensor::from_vector(mean), Tensor::from_vector(sd)};
}

// f32 images of `shape` with value mean_c + std_c * z, z standard normal by Box-Muller in f64 from
// the Philox block at offset (flat element index) of `stream`. Returns the images and their digest.
std::pair<Tensor, std::uint64_t> gaussian_images(const Shape& shape, const Tensor& mean, const Tensor& sd,
                                                 std::uint64_t seed, std::uint64_t stream) {
    Tensor out = Tensor::empty(shape, DType::f32);
    const std::int64_t N = shape[0], C = shape[1], HW = shape[2] * shape[3];
    const auto* m = mean.data<double>();
    const auto* s = sd.data<double>();
    float* y = out.data<float>();
    std::vector<std::uint64_t> digests(std::size_t(N), 0);
#pragma omp parallel for if (N >= 64) schedule(static)
    for (std::int64_t n = 0; n < N; ++n) {
        for (std::int64_t c = 0; c < C; ++c)
            for (std::int64_t q = 0; q < HW; ++q) {
                const std::int64_t j = (n * C + c) * HW + q;
                const PhiloxBlock b = Philox4x32::generate(seed, stream, std::uint64_t(j));
                const double u1 = 1.0 - Philox4x32::to_double(b[0], b[1]);  // (0, 1]: log is finite
                const double u2 = Philox4x32::to_double(b[2], b[3]);
                const double z = std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
                y[j] = float(m[c] + s[c] * z);
            }
        digests[std::size_t(n)] = digest_bytes(y + n * C * HW, std::size_t(C * HW) * sizeof(float));
    }
    return {out, combine(digests)};
}

bool is_label_kind(Kind k) { return k == Kind::partial_labels || k == Kind::random_labels; }

bool is_permutation(const Tensor& perm, std::int64_t P) {
    if (!perm.defined() || perm.dtype() != DType::i64 || perm.dim() != 1 || perm.size(0) != P) return false;
    std::vector<char> seen(std::size_t(P), 0);
    const auto* p = perm.data<std::int64_t>();
    for (std::int64_t i = 0; i < P; ++i) {
        if (p[i] < 0 || p[i] >= P || seen[std::size_t(p[i])]) return false;
        seen[std::size_t(p[i])] = 1;
    }
    return true;
}

Randomization normalized(Randomization r) {
    GS_CHECK(r.p >= 0.0 && r.p <= 1.0, "randomize: corruption probability p = ", r.p, " is outside [0, 1]");
    if (r.kind == Kind::random_labels) r.p = 1.0;
    if (!is_label_kind(r.kind)) r.p = 0.0;
    return r;
}

// Everything randomize() does; `saved` (reapply) supplies labels and the shared permutation instead
// of drawing them, and its digests are checked against the fresh draw.
RandomizedSplits run(const Splits& splits, const Randomization& config, const RandomizationRecord* saved) {
    const Randomization r = normalized(config);
    check_split(splits.train, "train");
    check_split(splits.test, "test");
    const Tensor& xtr = splits.train.images;
    const Tensor& xte = splits.test.images;
    GS_CHECK(xtr.size(1) == xte.size(1) && xtr.size(2) == xte.size(2) && xtr.size(3) == xte.size(3),
             "randomize: train images ", xtr.describe(), " and test images ", xte.describe(),
             " differ in (C, H, W)");
    const std::int64_t K = splits.train.num_classes;
    GS_CHECK(K >= 1, "randomize: '", splits.train.name, "' has num_classes = ", K);
    GS_CHECK(!(is_label_kind(r.kind) && r.always_different && K < 2), "randomize: always_different needs at least 2 classes, '",
             splits.train.name, "' has ", K);

    RandomizedSplits out{splits, {}};
    RandomizationRecord& rec = out.record;
    rec.config = r;
    rec.train_size = splits.train.size();
    rec.test_size = splits.test.size();
    rec.channels = xtr.size(1);
    rec.height = xtr.size(2);
    rec.width = xtr.size(3);
    rec.num_classes = K;
    rec.train_labels_crc = tensor_crc32(splits.train.labels.contiguous());
    rec.test_labels_crc = tensor_crc32(splits.test.labels.contiguous());
    const std::string suffix = std::string("+") + randomization_name(r.kind);
    if (r.kind != Kind::true_labels) {
        out.data.train.name += suffix;
        out.data.test.name += suffix;
    }
    const bool test_pixels = r.transform_test_pixels;

    switch (r.kind) {
        case Kind::true_labels: break;
        case Kind::partial_labels:
        case Kind::random_labels: {
            if (saved) {
                GS_CHECK(saved->train_labels.defined() && saved->train_corrupted.defined() &&
                             (!r.corrupt_test_labels || (saved->test_labels.defined() && saved->test_corrupted.defined())),
                         "reapply: the ", randomization_name(r.kind), " record lacks the drawn labels or masks");
                rec.train_labels = saved->train_labels;
                rec.train_corrupted = saved->train_corrupted;
                rec.test_labels = saved->test_labels;
                rec.test_corrupted = saved->test_corrupted;
                check_label_range(rec.train_labels, K, out.data.train.name);
                if (rec.test_labels.defined()) check_label_range(rec.test_labels, K, out.data.test.name);
            } else {
                check_label_range(splits.train.labels.contiguous(), K, splits.train.name);
                std::tie(rec.train_labels, rec.train_corrupted) = corrupt_labels(
                    splits.train.labels, K, r.p, r.always_different, r.seed, stream_for(Purpose::labels, 0));
                if (r.corrupt_test_labels) {
                    check_label_range(splits.test.labels.contiguous(), K, splits.test.name);
                    std::tie(rec.test_labels, rec.test_corrupted) = corrupt_labels(
                        splits.test.labels, K, r.p, r.always_different, r.seed, stream_for(Purpose::labels, 1));
                }
            }
            out.data.train.labels = rec.train_labels;
            if (rec.test_labels.defined()) out.data.test.labels = rec.test_labels;
            break;
        }
        case Kind::shuffled_pixels: {
            const std::int64_t P = pixel_count(xtr, r.pixel_unit);
            if (saved) {
                GS_CHECK(is_permutation(saved->pixel_permutation, P), "reapply: the recorded pixel permutation is not a permutation of ",
                         P, " positions");
                rec.pixel_permutation = saved->pixel_permutation;
            } else {
                Generator g(r.seed, stream_for(Purpose::shuffle, 0));
                rec.pixel_permutation = randperm(P, g);
            }
            out.data.train.images = apply_shared_permutation(xtr, rec.pixel_permutation, r.pixel_unit);
            if (test_pixels) out.data.test.images = apply_shared_permutation(xte, rec.pixel_permutation, r.pixel_unit);
            break;
        }
        case Kind::random_pixels: {
            std::tie(out.data.train.images, rec.train_digest) =
                apply_random_pixels(xtr, r.pixel_unit, r.seed, stream_for(Purpose::random_pixels, 0));
            if (test_pixels)
                std::tie(out.data.test.images, rec.test_digest) =
                    apply_random_pixels(xte, r.pixel_unit, r.seed, stream_for(Purpose::random_pixels, 1));
            break;
        }
        case Kind::gaussian: {
            std::tie(rec.channel_mean, rec.channel_std) = channel_moments(xtr);
            std::tie(out.data.train.images, rec.train_digest) = gaussian_images(
                xtr.shape(), rec.channel_mean, rec.channel_std, r.seed, stream_for(Purpose::gaussian, 0));
            if (test_pixels)
                std::tie(out.data.test.images, rec.test_digest) = gaussian_images(
                    xte.shape(), rec.channel_mean, rec.channel_std, r.seed, stream_for(Purpose::gaussian, 1));
            break;
        }
    }
    return out;
}

// ---- record file ----------------------------------------------------------------------------------

constexpr char kMagic[8] = {'G', 'S', 'R', 'A', 'N', 'D', '0', '1'};
constexpr std::uint32_t kVersion = 1;
constexpr std::size_t kHeader = 8 + 4 + 8;  // magic, version, payload size; the CRC-32 follows the payload

// Little-endian on every machine gradscope targets (x86-64, aarch64); the layout is written natively.
struct Writer {
    std::string bytes;
    template <class T> void put(T v) { bytes.append(reinterpret_cast<const char*>(&v), sizeof(T)); }
    void put_tensor(const Tensor& t_in) {
        put<std::uint8_t>(t_in.defined() ? 1 : 0);
        if (!t_in.defined()) return;
        const Tensor t = t_in.contiguous();
        put<std::uint8_t>(std::uint8_t(t.dtype()));
        put<std::uint32_t>(std::uint32_t(t.dim()));
        for (std::int64_t d = 0; d < t.dim(); ++d) put<std::int64_t>(t.size(d));
        bytes.append(static_cast<const char*>(t.raw_data()), std::size_t(t.numel()) * t.itemsize());
    }
};

struct Reader {
    const std::string& bytes;
    std::size_t pos;
    const std::string& file;
    void need(std::size_t n, const char* what) {
        GS_CHECK(bytes.size() - pos >= n, "load_record: ", file, ": truncated payload while reading ", what, " (need ",
                 n, " bytes at offset ", pos, ", ", bytes.size() - pos, " left)");
    }
    template <class T> T get(const char* what) {
        need(sizeof(T), what);
        T v;
        std::memcpy(&v, bytes.data() + pos, sizeof(T));
        pos += sizeof(T);
        return v;
    }
    Tensor get_tensor(const char* what) {
        if (get<std::uint8_t>(what) == 0) return {};
        const auto dt = get<std::uint8_t>(what);
        GS_CHECK(dt <= std::uint8_t(DType::u8), "load_record: ", file, ": ", what, " has invalid dtype code ", int(dt));
        const auto nd = get<std::uint32_t>(what);
        GS_CHECK(nd <= 8, "load_record: ", file, ": ", what, " has ", nd, " dims (at most 8 expected)");
        Shape shape;
        std::uint64_t n = 1;
        for (std::uint32_t d = 0; d < nd; ++d) {
            const auto s = get<std::int64_t>(what);
            GS_CHECK(s >= 0 && s < (std::int64_t(1) << 40), "load_record: ", file, ": ", what, " has invalid size ", s);
            shape.push_back(s);
            n *= std::uint64_t(s);
        }
        const std::size_t nbytes = std::size_t(n) * dtype_size(DType(dt));
        need(nbytes, what);
        Tensor t = Tensor::empty(shape, DType(dt));
        std::memcpy(t.raw_data(), bytes.data() + pos, nbytes);
        pos += nbytes;
        return t;
    }
};


void expect_equal_tensor(const Tensor& a, const Tensor& b, const char* what) {
    GS_CHECK(a.defined() == b.defined(), "reapply: ", what, " is ", a.defined() ? "present" : "absent",
             " in the fresh draw but ", b.defined() ? "present" : "absent", " in the record");
    if (!a.defined()) return;
    GS_CHECK(a.shape() == b.shape() && a.dtype() == b.dtype(), "reapply: ", what, " is ", a.describe(),
             " but the record holds ", b.describe());
    const Tensor ac = a.contiguous(), bc = b.contiguous();
    GS_CHECK(std::memcmp(ac.raw_data(), bc.raw_data(), std::size_t(ac.numel()) * ac.itemsize()) == 0, "reapply: ", what,
             " differs from the record");
}

}  // namespace

const char* randomization_name(RandomizationKind kind) {
    switch (kind) {
        case Kind::true_labels: return "true_labels";
        case Kind::partial_labels: return "partial_labels";
        case Kind::random_labels: return "random_labels";
        case Kind::shuffled_pixels: return "shuffled_pixels";
        case Kind::random_pixels: return "random_pixels";
        case Kind::gaussian: return "gaussian";
    }
    return "?";
}

RandomizationKind parse_randomization(std::string_view name) {
    for (int k = 0; k <= int(Kind::gaussian); ++k)
        if (name == randomization_name(Kind(k))) return Kind(k);
    GS_FAIL("unknown randomization '", name,
            "' (expected true_labels, partial_labels, random_labels, shuffled_pixels, random_pixels or gaussian)");
}

std::uint32_t tensor_crc32(const Tensor& t) {
    GS_CHECK(t.defined() && t.is_contiguous(), "tensor_crc32: expected a defined contiguous tensor, got ",
             t.defined() ? t.describe() : std::string("undefined"));
    uLong crc = ::crc32(0L, Z_NULL, 0);
    const auto* p = static_cast<const Bytef*>(t.raw_data());
    std::size_t n = std::size_t(t.numel()) * t.itemsize();
    while (n > 0) {  // zlib takes uInt lengths
        const auto chunk = uInt(std::min<std::size_t>(n, 1u << 30));
        crc = ::crc32(crc, p, chunk);
        p += chunk;
        n -= chunk;
    }
    return std::uint32_t(crc);
}

double fraction_changed(const Tensor& before, const Tensor& after) {
    GS_CHECK(before.dtype() == DType::i64 && after.dtype() == DType::i64 && before.shape() == after.shape(),
             "fraction_changed: expected two i64 tensors of one shape, got ", before.describe(), " and ",
             after.describe());
    const auto a = before.to_vector<std::int64_t>(), b = after.to_vector<std::int64_t>();
    if (a.empty()) return 0.0;
    std::int64_t changed = 0;
    for (std::size_t i = 0; i < a.size(); ++i) changed += a[i] != b[i];
    return double(changed) / double(a.size());
}

RandomizedSplits randomize(const Splits& splits, const Randomization& r) { return run(splits, r, nullptr); }

Splits reapply(const Splits& splits, const RandomizationRecord& saved) {
    const auto& tr = splits.train;
    const auto& te = splits.test;
    check_split(tr, "train");
    check_split(te, "test");
    GS_CHECK(tr.size() == saved.train_size && te.size() == saved.test_size && tr.images.size(1) == saved.channels &&
                 tr.images.size(2) == saved.height && tr.images.size(3) == saved.width &&
                 tr.num_classes == saved.num_classes,
             "reapply: the record was drawn for ", saved.train_size, "/", saved.test_size, " examples of (",
             saved.channels, ", ", saved.height, ", ", saved.width, ") with ", saved.num_classes, " classes, but '",
             tr.name, "' has ", tr.size(), "/", te.size(), " of ", tr.images.describe(), " with ", tr.num_classes);
    GS_CHECK(tensor_crc32(tr.labels.contiguous()) == saved.train_labels_crc &&
                 tensor_crc32(te.labels.contiguous()) == saved.test_labels_crc,
             "reapply: the original labels of '", tr.name, "' differ from the ones the record was drawn for (CRC-32)");
    RandomizedSplits fresh = run(splits, saved.config, &saved);
    const RandomizationRecord& rec = fresh.record;
    GS_CHECK(rec.train_digest == saved.train_digest && rec.test_digest == saved.test_digest, "reapply: the ",
             randomization_name(saved.config.kind), " draw differs from the record (digest ", rec.train_digest, "/",
             rec.test_digest, " vs recorded ", saved.train_digest, "/", saved.test_digest, ")");
    expect_equal_tensor(rec.channel_mean, saved.channel_mean, "the Gaussian channel mean");
    expect_equal_tensor(rec.channel_std, saved.channel_std, "the Gaussian channel std");
    return fresh.data;
}

void save_record(const RandomizationRecord& rec, const std::filesystem::path& path) {
    Writer w;
    const Randomization& c = rec.config;
    w.put<std::uint8_t>(std::uint8_t(c.kind));
    w.put<double>(c.p);
    w.put<std::uint8_t>(c.always_different);
    w.put<std::uint64_t>(c.seed);
    w.put<std::uint8_t>(std::uint8_t(c.pixel_unit));
    w.put<std::uint8_t>(c.corrupt_test_labels);
    w.put<std::uint8_t>(c.transform_test_pixels);
    for (std::int64_t v : {rec.train_size, rec.test_size, rec.channels, rec.height, rec.width, rec.num_classes})
        w.put<std::int64_t>(v);
    w.put<std::uint32_t>(rec.train_labels_crc);
    w.put<std::uint32_t>(rec.test_labels_crc);
    for (const Tensor* t : {&rec.train_labels, &rec.train_corrupted, &rec.test_labels, &rec.test_corrupted,
                            &rec.pixel_permutation, &rec.channel_mean, &rec.channel_std})
        w.put_tensor(*t);
    w.put<std::uint64_t>(rec.train_digest);
    w.put<std::uint64_t>(rec.test_digest);

    std::string file(kMagic, 8);
    const std::uint32_t version = kVersion;
    const std::uint64_t size = w.bytes.size();
    file.append(reinterpret_cast<const char*>(&version), 4);
    file.append(reinterpret_cast<const char*>(&size), 8);
    file += w.bytes;
    const std::uint32_t crc = std::uint32_t(::crc32(::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(w.bytes.data()),
                                                    uInt(w.bytes.size())));
    file.append(reinterpret_cast<const char*>(&crc), 4);
    write_file_atomic(path.string(), file.data(), file.size());
}

RandomizationRecord load_record(const std::filesystem::path& path) {
    const std::string name = path.string();
    std::ifstream in(path, std::ios::binary);
    GS_CHECK(in, "load_record: cannot open ", name);
    const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    GS_CHECK(!in.bad(), "load_record: reading ", name, " failed");
    GS_CHECK(bytes.size() >= kHeader + 4, "load_record: ", name, ": truncated, ", bytes.size(),
             " bytes (a record has at least ", kHeader + 4, ")");
    GS_CHECK(std::memcmp(bytes.data(), kMagic, 8) == 0, "load_record: ", name,
             ": bad magic (expected GSRAND01, found '", bytes.substr(0, 8), "')");
    std::uint32_t version;
    std::uint64_t size;
    std::memcpy(&version, bytes.data() + 8, 4);
    std::memcpy(&size, bytes.data() + 12, 8);
    GS_CHECK(version == kVersion, "load_record: ", name, ": version ", version, " (expected ", kVersion, ")");
    GS_CHECK(size == bytes.size() - kHeader - 4, "load_record: ", name, ": the header announces a payload of ", size,
             " bytes, the file holds ", bytes.size() - kHeader - 4, " (truncated or extended)");
    std::uint32_t stored_crc;
    std::memcpy(&stored_crc, bytes.data() + kHeader + size, 4);
    const auto crc = std::uint32_t(::crc32(::crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data() + kHeader),
                                           uInt(size)));
    GS_CHECK(crc == stored_crc, "load_record: ", name, ": checksum mismatch (CRC-32 expected ", stored_crc, ", found ",
             crc, "): the file is corrupt");

    const std::string payload = bytes.substr(kHeader, std::size_t(size));
    Reader r{payload, 0, name};
    RandomizationRecord rec;
    Randomization& c = rec.config;
    const auto kind = r.get<std::uint8_t>("kind");
    GS_CHECK(kind <= std::uint8_t(Kind::gaussian), "load_record: ", name, ": invalid kind code ", int(kind));
    c.kind = Kind(kind);
    c.p = r.get<double>("p");
    c.always_different = r.get<std::uint8_t>("always_different") != 0;
    c.seed = r.get<std::uint64_t>("seed");
    const auto unit = r.get<std::uint8_t>("pixel_unit");
    GS_CHECK(unit <= std::uint8_t(PixelUnit::value), "load_record: ", name, ": invalid pixel unit code ", int(unit));
    c.pixel_unit = PixelUnit(unit);
    c.corrupt_test_labels = r.get<std::uint8_t>("corrupt_test_labels") != 0;
    c.transform_test_pixels = r.get<std::uint8_t>("transform_test_pixels") != 0;
    for (std::int64_t* v : {&rec.train_size, &rec.test_size, &rec.channels, &rec.height, &rec.width, &rec.num_classes})
        *v = r.get<std::int64_t>("sizes");
    rec.train_labels_crc = r.get<std::uint32_t>("train_labels_crc");
    rec.test_labels_crc = r.get<std::uint32_t>("test_labels_crc");
    rec.train_labels = r.get_tensor("train_labels");
    rec.train_corrupted = r.get_tensor("train_corrupted");
    rec.test_labels = r.get_tensor("test_labels");
    rec.test_corrupted = r.get_tensor("test_corrupted");
    rec.pixel_permutation = r.get_tensor("pixel_permutation");
    rec.channel_mean = r.get_tensor("channel_mean");
    rec.channel_std = r.get_tensor("channel_std");
    rec.train_digest = r.get<std::uint64_t>("train_digest");
    rec.test_digest = r.get<std::uint64_t>("test_digest");
    GS_CHECK(r.pos == payload.size(), "load_record: ", name, ": ", payload.size() - r.pos,
             " unexpected bytes after the record");
    // The label tensors must fit the sizes recorded beside them.
    auto check_labels = [&](const Tensor& t, std::int64_t n, DType dt, const char* what) {
        if (!t.defined()) return;
        GS_CHECK(t.dtype() == dt && t.dim() == 1 && t.size(0) == n, "load_record: ", name, ": ", what, " is ",
                 t.describe(), ", expected (", n, ") ", dtype_name(dt));
    };
    check_labels(rec.train_labels, rec.train_size, DType::i64, "train_labels");
    check_labels(rec.train_corrupted, rec.train_size, DType::u8, "train_corrupted");
    check_labels(rec.test_labels, rec.test_size, DType::i64, "test_labels");
    check_labels(rec.test_corrupted, rec.test_size, DType::u8, "test_corrupted");
    GS_CHECK(!is_label_kind(c.kind) || rec.train_labels.defined(), "load_record: ", name, ": a ",
             randomization_name(c.kind), " record without train_labels");
    return rec;
}

}  // namespace gs::data
