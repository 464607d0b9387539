// ImageNet folders: JPEG sniffing and decoding (libjpeg-turbo), antialiased resize + center crop,
// a thread pool over files, and the decoded-split cache.
#include "data/imagenet.h"

#include <turbojpeg.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <system_error>
#include <thread>

#include "data/file_io.h"
#include "data/hash.h"
#include "tensor/error.h"

namespace gs::data {

namespace fs = std::filesystem;

namespace {

// ---- header sniffing ----------------------------------------------------------------------------

std::string hex_prefix(const std::vector<std::uint8_t>& b, std::size_t n) {
    std::string s;
    char buf[4];
    for (std::size_t i = 0; i < std::min(n, b.size()); ++i) {
        std::snprintf(buf, sizeof buf, "%s%02X", i ? " " : "", b[i]);
        s += buf;
    }
    return s.empty() ? "nothing (empty file)" : s;
}

// Throws unless `b` starts with the JPEG SOI marker followed by another marker (FF D8 FF).
void check_jpeg_signature(const std::vector<std::uint8_t>& b, const std::string& path) {
    if (b.size() >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return;
    auto starts = [&](const char* sig, std::size_t n) { return b.size() >= n && std::memcmp(b.data(), sig, n) == 0; };
    std::string kind = starts("\x89PNG\r\n\x1a\n", 8)                             ? "a PNG"
                       : starts("GIF8", 4)                                       ? "a GIF"
                       : starts("BM", 2)                                         ? "a BMP"
                       : starts("RIFF", 4) && b.size() >= 12 && !std::memcmp(b.data() + 8, "WEBP", 4) ? "a WebP"
                                                                                 : "an unknown";
    GS_FAIL(path, ": not a JPEG: expected the JPEG signature FF D8 FF, found ", hex_prefix(b, 8), " (", kind,
            " file); only JPEG images are decoded");
}

// ---- resize --------------------------------------------------------------------------------------

// Filter taps of a 1-d resize from in_n pixels to scaled_n pixels, for the out_n output pixels that
// start at `first` (the crop). Output pixel o covers input [o*s, (o+1)*s) with s = in_n/scaled_n;
// the triangle filter has radius max(s, 1) input pixels, so downscaling averages over every input
// pixel it covers (antialiasing) and upscaling is plain bilinear.
struct Taps {
    std::vector<int> start;    // first input pixel of each output pixel
    std::vector<int> count;    // number of taps
    std::vector<float> weight; // out_n * max_taps, normalised to sum 1
    int max_taps = 0;
};

Taps make_taps(int in_n, int scaled_n, int first, int out_n) {
    const double scale = double(in_n) / double(scaled_n);
    const double radius = std::max(scale, 1.0);
    Taps t;
    t.max_taps = int(std::ceil(radius)) * 2 + 1;
    t.start.resize(std::size_t(out_n));
    t.count.resize(std::size_t(out_n));
    t.weight.assign(std::size_t(out_n) * std::size_t(t.max_taps), 0.0f);
    for (int o = 0; o < out_n; ++o) {
        const double center = (double(o + first) + 0.5) * scale;
        int lo = std::max(0, int(std::floor(center - radius)));
        int hi = std::min(in_n, int(std::ceil(center + radius)));
        hi = std::min(hi, lo + t.max_taps);
        std::vector<double> w(std::size_t(t.max_taps));
        double sum = 0.0;
        const int taps = hi - lo;
        for (int k = 0; k < taps; ++k) {
            double x = (double(lo + k) + 0.5 - center) / radius;
            w[std::size_t(k)] = std::max(0.0, 1.0 - std::abs(x));
            sum += w[std::size_t(k)];
        }
        GS_CHECK(sum > 0.0, "resize: empty filter window");
        t.start[std::size_t(o)] = lo;
        t.count[std::size_t(o)] = taps;
        for (int k = 0; k < taps; ++k) t.weight[std::size_t(o) * std::size_t(t.max_taps) + std::size_t(k)] = float(w[std::size_t(k)] / sum);
    }
    return t;
}

// Horizontal pass of rows [row0, row1) of src (h, w, CH) into tmp (rows, size, CH) floats.
template <int CH>
void resize_rows(const std::uint8_t* src, int w, int row0, int row1, const Taps& tx, int size, float* tmp) {
    for (int y = row0; y < row1; ++y) {
        const std::uint8_t* in = src + std::size_t(y) * std::size_t(w) * CH;
        float* out = tmp + std::size_t(y - row0) * std::size_t(size) * CH;
        for (int x = 0; x < size; ++x) {
            const float* wt = tx.weight.data() + std::size_t(x) * std::size_t(tx.max_taps);
            const std::uint8_t* p = in + std::size_t(tx.start[std::size_t(x)]) * CH;
            float acc[CH] = {};
            for (int k = 0; k < tx.count[std::size_t(x)]; ++k)
                for (int c = 0; c < CH; ++c) acc[c] += wt[k] * float(p[k * CH + c]);
            for (int c = 0; c < CH; ++c) out[x * CH + c] = acc[c];
        }
    }
}

// src: (h, w, ch) interleaved u8, ch = 1 or 3. dst: (3, size, size) planar u8. The shorter side is
// resized to `resize`, the longer in proportion, and the centered size x size window is computed.
void resize_center_crop(const std::uint8_t* src, int h, int w, int ch, int resize, int size, std::uint8_t* dst) {
    const bool wide = w >= h;
    const int rh = wide ? resize : int(std::lround(double(h) * resize / w));
    const int rw = wide ? int(std::lround(double(w) * resize / h)) : resize;
    const int top = (std::max(rh, size) - size) / 2, left = (std::max(rw, size) - size) / 2;
    Taps tx = make_taps(w, std::max(rw, 1), left, size);
    Taps ty = make_taps(h, std::max(rh, 1), top, size);
    // Only the input rows some output row reads go through the horizontal pass.
    const int row0 = ty.start.front();
    const int row1 = ty.start.back() + ty.count.back();
    const std::size_t row_len = std::size_t(size) * std::size_t(ch);
    std::vector<float> tmp(std::size_t(row1 - row0) * row_len);  // (rows, size, ch)
    if (ch == 3) resize_rows<3>(src, w, row0, row1, tx, size, tmp.data());
    else resize_rows<1>(src, w, row0, row1, tx, size, tmp.data());

    // Vertical pass: whole rows at a time, so the inner loop runs over contiguous floats.
    const std::size_t plane = std::size_t(size) * std::size_t(size);
    std::vector<float> acc(row_len);
    for (int y = 0; y < size; ++y) {
        const float* wt = ty.weight.data() + std::size_t(y) * std::size_t(ty.max_taps);
        const float* rows = tmp.data() + std::size_t(ty.start[std::size_t(y)] - row0) * row_len;
        std::fill(acc.begin(), acc.end(), 0.0f);
        for (int k = 0; k < ty.count[std::size_t(y)]; ++k) {
            const float* r = rows + std::size_t(k) * row_len;
            for (std::size_t j = 0; j < row_len; ++j) acc[j] += wt[k] * r[j];
        }
        // The weights are non-negative and sum to 1, so acc is in [0, 255] up to rounding.
        for (int x = 0; x < size; ++x)
            for (int c = 0; c < ch; ++c)
                dst[std::size_t(c) * plane + std::size_t(y) * std::size_t(size) + std::size_t(x)] =
                    std::uint8_t(std::min(acc[std::size_t(x) * std::size_t(ch) + std::size_t(c)], 255.0f) + 0.5f);
    }
    // A grayscale image is three equal planes.
    if (ch == 1) {
        std::memcpy(dst + plane, dst, plane);
        std::memcpy(dst + 2 * plane, dst, plane);
    }
}

// ---- decoding ------------------------------------------------------------------------------------

struct TjHandle {
    tjhandle h = tjInitDecompress();
    TjHandle() { GS_CHECK(h != nullptr, "libjpeg-turbo: cannot create a decompressor (", tjGetErrorStr2(nullptr), ")"); }
    ~TjHandle() { tjDestroy(h); }
    TjHandle(const TjHandle&) = delete;
    TjHandle& operator=(const TjHandle&) = delete;
};

void decode_into(tjhandle tj, const std::string& path, int size, int resize, std::uint8_t* dst) {
    std::vector<std::uint8_t> bytes = read_file_bytes(path);
    check_jpeg_signature(bytes, path);
    int w = 0, h = 0, subsamp = 0, colorspace = 0;
    if (tjDecompressHeader3(tj, bytes.data(), (unsigned long)bytes.size(), &w, &h, &subsamp, &colorspace) != 0)
        GS_FAIL(path, ": cannot read the JPEG header (", tjGetErrorStr2(tj), ")");
    GS_CHECK(colorspace != TJCS_CMYK && colorspace != TJCS_YCCK, path,
             ": CMYK/YCCK JPEG is not supported (convert it to RGB first)");
    GS_CHECK(w > 0 && h > 0 && std::int64_t(w) * h <= (std::int64_t(1) << 28), path, ": unsupported JPEG size ", w,
             "x", h);
    const bool gray = colorspace == TJCS_GRAY;
    const int ch = gray ? 1 : 3;

    // The smallest DCT scaling whose shorter side still reaches `resize`: decoding at 1/2..1/8
    // skips most of the work for large photos and loses nothing the resize would keep.
    int n_factors = 0;
    tjscalingfactor* factors = tjGetScalingFactors(&n_factors);
    tjscalingfactor best{1, 1};
    for (int i = 0; factors && i < n_factors; ++i) {
        const tjscalingfactor f = factors[i];
        if (f.num > f.denom) continue;
        const int sw = TJSCALED(w, f), sh = TJSCALED(h, f);
        if (std::min(sw, sh) >= resize && sw < TJSCALED(w, best)) best = f;
    }
    const int sw = TJSCALED(w, best), sh = TJSCALED(h, best);
    std::vector<std::uint8_t> pixels(std::size_t(sw) * std::size_t(sh) * std::size_t(ch));
    // TJFLAG_STOPONWARNING: a truncated or corrupt stream is an error, not a grey-padded image.
    if (tjDecompress2(tj, bytes.data(), (unsigned long)bytes.size(), pixels.data(), sw, 0, sh,
                      gray ? TJPF_GRAY : TJPF_RGB, TJFLAG_STOPONWARNING) != 0)
        GS_FAIL(path, ": JPEG decoding failed (", tjGetErrorStr2(tj), ")");
    resize_center_crop(pixels.data(), sh, sw, ch, resize, size, dst);
}

void check_sizes(std::int64_t size, std::int64_t resize) {
    GS_CHECK(size >= 1 && size <= 4096, "image folder: size must be in [1, 4096], got ", size);
    GS_CHECK(resize >= size && resize <= 16384, "image folder: resize (", resize, ") must be >= size (", size,
             ") and <= 16384");
}

// ---- folder scan ---------------------------------------------------------------------------------

struct Sample {
    std::string path;
    std::int64_t label;
};

bool hidden(const fs::path& p) { return p.filename().string().starts_with("."); }

std::vector<Sample> scan_split(const std::string& split_dir, const std::vector<std::string>& classes) {
    GS_CHECK(fs::is_directory(split_dir), split_dir, ": not a folder (expected <class>/<image> folders)");
    std::vector<Sample> samples;
    for (const std::string& cls : list_class_folders(split_dir)) {
        auto it = std::find(classes.begin(), classes.end(), cls);
        GS_CHECK(it != classes.end(), split_dir, ": class folder ", cls, " is not one of the ", classes.size(),
                 " known classes");
        std::vector<std::string> files;
        for (const auto& e : fs::directory_iterator(fs::path(split_dir) / cls))
            if (!hidden(e.path()) && e.is_regular_file()) files.push_back(e.path().string());
        std::sort(files.begin(), files.end());
        for (std::string& f : files) samples.push_back({std::move(f), std::int64_t(it - classes.begin())});
    }
    return samples;
}

// ---- cache ---------------------------------------------------------------------------------------
// File layout (version 1), integers little-endian:
//   0  "GSIMGCH\0"  magic
//   8  u32 version = 1, u32 0
//   16 i64 N, C, H, W
//   48 u64 fingerprint of the source (file names, sizes, mtimes, size, resize)
//   56 u64 checksum = hash_bytes of the 16 bytes {hash_bytes(labels), hash_bytes(images)}
//   64 labels: N i64, then images: N*C*H*W u8
constexpr char kCacheMagic[8] = {'G', 'S', 'I', 'M', 'G', 'C', 'H', '\0'};
constexpr std::uint32_t kCacheVersion = 1;
constexpr std::size_t kCacheHeader = 64;

struct CacheHeader {
    char magic[8];
    std::uint32_t version, reserved;
    std::int64_t n, c, h, w;
    std::uint64_t fingerprint, checksum;
};
static_assert(sizeof(CacheHeader) == kCacheHeader);
static_assert(std::endian::native == std::endian::little, "the image cache is written little-endian");

// Names are taken relative to the split folder, so the same folder reached by another path still
// matches its cache.
std::uint64_t fingerprint(const std::string& split_dir, const std::vector<Sample>& samples, std::int64_t size,
                          std::int64_t resize) {
    std::ostringstream os;
    os << "gradscope-image-folder-v1\n" << size << ' ' << resize << '\n';
    for (const Sample& s : samples) {
        std::error_code ec;
        auto bytes = fs::file_size(s.path, ec);
        auto mtime = fs::last_write_time(s.path, ec).time_since_epoch().count();
        os << s.label << '\t' << fs::path(s.path).lexically_relative(split_dir).string() << '\t' << bytes << '\t'
           << mtime << '\n';
    }
    std::string text = os.str();
    return hash_bytes(text.data(), text.size());
}

std::uint64_t payload_checksum(const Tensor& labels, const Tensor& images) {
    std::uint64_t parts[2] = {hash_bytes(labels.data<std::int64_t>(), std::size_t(labels.numel()) * 8),
                              hash_bytes(images.data<std::uint8_t>(), std::size_t(images.numel()))};
    return hash_bytes(parts, sizeof parts);
}

// Reads the cache into d.labels / d.images; returns "" on success or why the cache is unusable.
std::string read_cache(const std::string& path, std::uint64_t fp, std::int64_t n, std::int64_t size, Dataset& d) {
    std::ifstream in(path, std::ios::binary);
    if (!in) return "cannot open";
    CacheHeader hd{};
    in.read(reinterpret_cast<char*>(&hd), sizeof hd);
    if (in.gcount() != std::streamsize(sizeof hd)) return "truncated header";
    if (std::memcmp(hd.magic, kCacheMagic, 8) != 0) return "wrong magic";
    if (hd.version != kCacheVersion) return "version " + std::to_string(hd.version) + ", expected 1";
    if (hd.fingerprint != fp) return "the image files changed since it was written";
    if (hd.n != n || hd.c != 3 || hd.h != size || hd.w != size) return "wrong shape";
    std::error_code ec;
    const std::uint64_t expected = kCacheHeader + std::uint64_t(n) * 8 + std::uint64_t(n) * 3 * size * size;
    const std::uint64_t found = fs::file_size(path, ec);
    if (ec || found != expected)
        return "size " + std::to_string(found) + " bytes, expected " + std::to_string(expected);
    Tensor labels = Tensor::empty({n}, DType::i64);
    Tensor images = Tensor::empty({n, 3, size, size}, DType::u8);
    in.read(reinterpret_cast<char*>(labels.data<std::int64_t>()), std::streamsize(n * 8));
    in.read(reinterpret_cast<char*>(images.data<std::uint8_t>()), std::streamsize(images.numel()));
    if (!in) return "read failed";
    if (payload_checksum(labels, images) != hd.checksum) return "checksum mismatch (corrupt file)";
    d.labels = labels;
    d.images = images;
    return "";
}

void write_cache(const std::string& path, std::uint64_t fp, const Dataset& d) {
    CacheHeader hd{};
    std::memcpy(hd.magic, kCacheMagic, 8);
    hd.version = kCacheVersion;
    hd.n = d.images.size(0);
    hd.c = d.images.size(1);
    hd.h = d.images.size(2);
    hd.w = d.images.size(3);
    hd.fingerprint = fp;
    hd.checksum = payload_checksum(d.labels, d.images);
    write_file_atomic(path, {{&hd, sizeof hd},
                             {d.labels.data<std::int64_t>(), std::size_t(d.labels.numel()) * 8},
                             {d.images.data<std::uint8_t>(), std::size_t(d.images.numel())}});
}

}  // namespace

Tensor decode_jpeg_file(const std::string& path, std::int64_t size, std::int64_t resize) {
    if (resize == 0) resize = size;
    check_sizes(size, resize);
    TjHandle tj;
    Tensor out = Tensor::empty({3, size, size}, DType::u8);
    decode_into(tj.h, path, int(size), int(resize), out.data<std::uint8_t>());
    return out;
}

std::vector<std::string> list_class_folders(const std::string& dir) {
    GS_CHECK(fs::is_directory(dir), dir, ": not a folder");
    std::vector<std::string> classes;
    for (const auto& e : fs::directory_iterator(dir))
        if (!hidden(e.path()) && e.is_directory()) classes.push_back(e.path().filename().string());
    std::sort(classes.begin(), classes.end());
    return classes;
}

Dataset load_image_folder(const std::string& split_dir, const std::vector<std::string>& classes,
                          const std::string& name, const ImageFolderOptions& options, ImageFolderReport* report) {
    const std::int64_t size = options.size;
    const std::int64_t resize = options.resize == 0 ? options.size : options.resize;
    check_sizes(size, resize);
    GS_CHECK(options.threads >= 0, "image folder: threads must be >= 0, got ", options.threads);
    ImageFolderReport local;
    ImageFolderReport& rep = report ? *report : local;
    rep = {};

    std::vector<Sample> samples = scan_split(split_dir, classes);
    const std::int64_t n = std::int64_t(samples.size());
    GS_CHECK(n > 0, split_dir, ": no image files in its class folders");
    Dataset d;
    d.name = name;
    d.num_classes = std::int64_t(classes.size());
    d.class_names = classes;

    std::uint64_t fp = 0;
    if (!options.cache_dir.empty()) {
        std::error_code ec;
        fs::create_directories(options.cache_dir, ec);
        GS_CHECK(!ec, options.cache_dir, ": cannot create the image cache folder (", ec.message(), ")");
        std::string key = fs::weakly_canonical(split_dir).string() + "|" + std::to_string(size) + "|" +
                          std::to_string(resize);
        std::string stem = fs::path(split_dir).lexically_normal().filename().string();
        if (stem.empty()) stem = fs::path(split_dir).lexically_normal().parent_path().filename().string();
        rep.cache_path = (fs::path(options.cache_dir) / (stem + "-" + std::to_string(size) + "-" +
                                                         hash_hex(hash_bytes(key.data(), key.size())) + ".gscache"))
                             .string();
        fp = fingerprint(split_dir, samples, size, resize);
        if (fs::exists(rep.cache_path)) {
            std::string why = read_cache(rep.cache_path, fp, n, size, d);
            if (why.empty()) {
                rep.cache_hit = true;
                return d;
            }
            rep.cache_warning = rep.cache_path + ": ignoring the image cache: " + why + "; rebuilding it";
            std::cerr << "gradscope: warning: " << rep.cache_warning << "\n";
        }
    }

    d.images = Tensor::empty({n, 3, size, size}, DType::u8);
    d.labels = Tensor::empty({n}, DType::i64);
    std::int64_t* labels = d.labels.data<std::int64_t>();
    for (std::int64_t i = 0; i < n; ++i) labels[i] = samples[std::size_t(i)].label;
    std::uint8_t* images = d.images.data<std::uint8_t>();
    const std::size_t per_image = std::size_t(3 * size * size);

    // Workers take the next file index; on failure the error of the lowest failing index wins, and
    // indices past it are skipped, so the reported file does not depend on timing.
    const int cores = int(std::max(1u, std::thread::hardware_concurrency()));
    GS_CHECK(options.threads >= 0, "image folder: threads must be >= 0, got ", options.threads);
    // More threads than a few per core only add contention.
    int threads = options.threads > 0 ? std::min(options.threads, 4 * cores) : cores;
    threads = int(std::min<std::int64_t>(threads, std::max<std::int64_t>(n, 1)));
    std::atomic<std::int64_t> next{0};
    std::atomic<std::int64_t> first_error{n};
    std::mutex mu;
    std::string error;
    auto work = [&] {
        try {
            TjHandle tj;
            for (std::int64_t i = next++; i < n && i < first_error.load(); i = next++) {
                try {
                    decode_into(tj.h, samples[std::size_t(i)].path, int(size), int(resize),
                                images + std::size_t(i) * per_image);
                } catch (const std::exception& e) {
                    std::lock_guard<std::mutex> lock(mu);
                    if (i < first_error.load()) {
                        first_error = i;
                        error = e.what();
                    }
                }
            }
        } catch (const std::exception& e) {  // the decompressor itself could not be created
            std::lock_guard<std::mutex> lock(mu);
            if (error.empty()) error = e.what();
            first_error = -1;
        }
    };
    std::vector<std::thread> pool;
    try {
        for (int t = 1; t < threads; ++t) pool.emplace_back(work);
    } catch (const std::system_error&) {
        // The system refused another thread (limits, a huge --threads): the threads that did
        // start, and this one, decode everything; a joinable thread must never be destroyed.
    }
    work();
    for (std::thread& t : pool) t.join();
    if (!error.empty()) throw Error(error);

    if (!options.cache_dir.empty()) {
        // The split is decoded and correct; a cache that cannot be written costs only time later.
        try {
            write_cache(rep.cache_path, fp, d);
            rep.cache_written = true;
        } catch (const Error& e) {
            rep.cache_warning += (rep.cache_warning.empty() ? "" : "; ") + std::string("cannot write the image cache: ") + e.what();
            std::cerr << "gradscope: warning: cannot write the image cache: " << e.what() << "\n";
        }
    }
    return d;
}

Splits load_imagenet(const std::string& dir, const ImageFolderOptions& options) {
    GS_CHECK(fs::is_directory(dir), dir, ": not a folder (expected train/<wnid>/*.JPEG and val/<wnid>/*.JPEG)");
    const std::string train = (fs::path(dir) / "train").string();
    const std::string val = (fs::path(dir) / "val").string();
    GS_CHECK(fs::is_directory(train), train, ": no such folder (expected train/<wnid>/*.JPEG)");
    GS_CHECK(fs::is_directory(val), val, ": no such folder (expected val/<wnid>/*.JPEG)");
    // Class index = position in the sorted WNID list of train/ (byte-wise order).
    std::vector<std::string> wnids = list_class_folders(train);
    GS_CHECK(!wnids.empty(), train, ": no class folders");
    Splits s;
    s.train = load_image_folder(train, wnids, "imagenet/train", options);
    s.test = load_image_folder(val, wnids, "imagenet/val", options);
    return s;
}

}  // namespace gs::data
