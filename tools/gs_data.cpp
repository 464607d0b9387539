// gs-data: look at a dataset before a long run. `gs-data inspect` loads both splits through
// load_dataset, optionally applies one of Zhang et al.'s randomizations (data/randomize.h), and
// prints counts, class histograms, per-channel pixel statistics, the fraction of labels the
// randomization changed and the content hashes, as text or as one JSON object. Errors print the
// gs::Error message and exit with code 2.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "data/datasets.h"
#include "data/hash.h"
#include "data/randomize.h"
#include "tensor/error.h"

namespace {

using gs::data::Dataset;
using gs::data::Splits;
using json = nlohmann::ordered_json;

constexpr int kUsageError = 2;

struct SplitStats {
    std::int64_t count = 0;
    std::vector<std::int64_t> shape;        // C, H, W
    std::vector<std::int64_t> histogram;    // per class
    std::vector<std::int64_t> coarse_histogram;
    std::vector<double> mean, std;          // per channel, pixel values 0..255
    std::string hash;
};

SplitStats compute_stats(const Dataset& d) {
    SplitStats s;
    const gs::Tensor images = d.images.contiguous();
    const std::int64_t n = images.size(0), c = images.size(1), hw = images.size(2) * images.size(3);
    s.count = n;
    s.shape = {c, images.size(2), images.size(3)};
    s.histogram.assign(std::size_t(d.num_classes), 0);
    for (std::int64_t v : d.labels.to_vector<std::int64_t>()) {
        GS_CHECK(v >= 0 && v < d.num_classes, d.name, ": label ", v, " outside [0, ", d.num_classes, ")");
        ++s.histogram[std::size_t(v)];
    }
    if (d.coarse_labels.defined()) {
        std::int64_t k = std::int64_t(d.coarse_class_names.size());
        for (std::int64_t v : d.coarse_labels.to_vector<std::int64_t>()) {
            GS_CHECK(v >= 0, d.name, ": negative coarse label ", v);
            k = std::max(k, v + 1);
        }
        s.coarse_histogram.assign(std::size_t(k), 0);
        for (std::int64_t v : d.coarse_labels.to_vector<std::int64_t>()) ++s.coarse_histogram[std::size_t(v)];
    }
    // Per-(image, channel) partial sums, each taken in a fixed order, then added image by image:
    // the result does not depend on the thread count. Two passes (mean, then squared deviations)
    // keep the variance accurate for float images too; for u8 images every sum is exact.
    std::vector<double> part(std::size_t(n * c));
    auto per_image = [&](auto tag, auto&& term) {
        using T = decltype(tag);
        const T* px = images.data<T>();
#pragma omp parallel for schedule(static)
        for (std::int64_t ic = 0; ic < n * c; ++ic) {
            const T* p = px + ic * hw;
            double acc = 0.0;
            for (std::int64_t k = 0; k < hw; ++k) acc += term(double(p[k]), ic % c);
            part[std::size_t(ic)] = acc;
        }
    };
    auto channel_totals = [&] {
        std::vector<double> t(std::size_t(c), 0.0);
        for (std::int64_t ic = 0; ic < n * c; ++ic) t[std::size_t(ic % c)] += part[std::size_t(ic)];
        return t;
    };
    auto run = [&](auto&& term) {
        switch (images.dtype()) {
            case gs::DType::u8: per_image(std::uint8_t{}, term); break;
            case gs::DType::f32: per_image(float{}, term); break;
            case gs::DType::f64: per_image(double{}, term); break;
            default: GS_FAIL(d.name, ": images of dtype ", gs::dtype_name(images.dtype()), " are not supported");
        }
        return channel_totals();
    };
    const double m = double(n * hw);
    s.mean = run([](double v, std::int64_t) { return v; });
    for (double& v : s.mean) v = m > 0 ? v / m : 0.0;
    s.std = run([&](double v, std::int64_t ch) { return (v - s.mean[std::size_t(ch)]) * (v - s.mean[std::size_t(ch)]); });
    for (double& v : s.std) v = m > 0 ? std::sqrt(v / m) : 0.0;  // population std
    s.hash = gs::data::dataset_hash(d);
    return s;
}

json split_json(const Dataset& d, const SplitStats& s) {
    json j;
    j["name"] = d.name;
    j["count"] = s.count;
    j["shape"] = s.shape;
    j["num_classes"] = d.num_classes;
    j["class_names"] = d.class_names;
    j["histogram"] = s.histogram;
    if (!s.coarse_histogram.empty()) {
        j["coarse_class_names"] = d.coarse_class_names;
        j["coarse_histogram"] = s.coarse_histogram;
    }
    j["pixel_mean"] = s.mean;
    j["pixel_std"] = s.std;
    j["hash"] = s.hash;
    return j;
}

std::string fmt(double v) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.4f", v);
    return buf;
}

// One histogram row: index, class name (or blank), count.
std::string histogram_row(std::size_t k, const std::vector<std::string>& names, std::int64_t count) {
    char buf[96];
    std::snprintf(buf, sizeof buf, "    %4zu %-24s %10lld\n", k, k < names.size() ? names[k].c_str() : "",
                  static_cast<long long>(count));
    return buf;
}

void print_split(const char* key, const Dataset& d, const SplitStats& s) {
    std::cout << key << ": " << d.name << ", " << s.count << " images of " << s.shape[0] << "x" << s.shape[1] << "x"
              << s.shape[2] << ", " << d.num_classes << " classes, hash " << s.hash << "\n";
    std::cout << "  pixel mean (0..255, per channel):";
    for (double v : s.mean) std::cout << " " << fmt(v);
    std::cout << "\n  pixel std  (0..255, per channel):";
    for (double v : s.std) std::cout << " " << fmt(v);
    std::cout << "\n  class histogram:\n";
    for (std::size_t k = 0; k < s.histogram.size(); ++k) std::cout << histogram_row(k, d.class_names, s.histogram[k]);
    if (!s.coarse_histogram.empty()) {
        std::cout << "  coarse class histogram:\n";
        for (std::size_t k = 0; k < s.coarse_histogram.size(); ++k)
            std::cout << histogram_row(k, d.coarse_class_names, s.coarse_histogram[k]);
    }
}

struct InspectArgs {
    std::string dataset = "fashion-mnist";
    std::string data_dir;
    std::string randomize;     // empty or "none": the data as stored
    double corrupt_prob = -1;  // < 0: not given
    bool always_different = false;
    std::uint64_t seed = 0;
    bool json = false;
    gs::data::ImageFolderOptions image;
};

// The randomization the flags ask for; throws on combinations that would silently do nothing.
gs::data::Randomization randomization_from(const InspectArgs& a) {
    using gs::data::RandomizationKind;
    gs::data::Randomization r;
    r.kind = gs::data::parse_randomization(a.randomize);
    r.seed = a.seed;
    r.always_different = a.always_different;
    if (r.kind == RandomizationKind::partial_labels) {
        GS_CHECK(a.corrupt_prob >= 0, "--randomize partial_labels needs --corrupt-prob P");
        r.p = a.corrupt_prob;
    } else {
        GS_CHECK(a.corrupt_prob < 0, "--corrupt-prob applies to --randomize partial_labels only, not ",
                 gs::data::randomization_name(r.kind));
        if (r.kind == RandomizationKind::random_labels) r.p = 1.0;
    }
    GS_CHECK(!a.always_different || r.kind == RandomizationKind::partial_labels ||
                 r.kind == RandomizationKind::random_labels,
             "--always-different applies to partial_labels and random_labels only");
    return r;
}

int run_inspect(const InspectArgs& a) {
    const bool randomized = !a.randomize.empty() && a.randomize != "none";
    if (!randomized) {
        GS_CHECK(a.corrupt_prob < 0, "--corrupt-prob needs --randomize partial_labels");
        GS_CHECK(!a.always_different, "--always-different needs --randomize partial_labels or random_labels");
    }
    gs::data::Randomization config;
    if (randomized) config = randomization_from(a);  // flag errors before the (slow) load
    Splits original = gs::data::load_dataset(a.dataset, a.data_dir, a.image);
    const std::string original_hash = gs::data::splits_hash(original);
    Splits splits = original;
    double train_changed = 0.0, test_changed = 0.0;
    if (randomized) {
        splits = gs::data::randomize(original, config).data;
        train_changed = gs::data::fraction_changed(original.train.labels, splits.train.labels);
        test_changed = gs::data::fraction_changed(original.test.labels, splits.test.labels);
    }
    SplitStats train = compute_stats(splits.train), test = compute_stats(splits.test);
    const std::string hash = randomized ? gs::data::splits_hash(splits) : original_hash;
    const std::string dir =
        a.data_dir.empty() && a.dataset == "fashion-mnist" ? gs::data::kFashionMnistDir : a.data_dir;
    if (a.json) {
        json j;
        j["dataset"] = a.dataset;
        j["data_dir"] = dir;
        j["hash"] = hash;  // of the data as a run would train on it (randomized when asked)
        if (randomized) {
            j["original_hash"] = original_hash;
            j["randomization"] = {{"kind", gs::data::randomization_name(config.kind)},
                                  {"p", config.p},
                                  {"always_different", config.always_different},
                                  {"seed", config.seed},
                                  {"train_labels_changed", train_changed},
                                  {"test_labels_changed", test_changed}};
        }
        j["splits"] = {{"train", split_json(splits.train, train)}, {"test", split_json(splits.test, test)}};
        std::cout << j.dump(2) << "\n";
    } else {
        std::cout << "dataset " << a.dataset << " (" << dir << "), hash " << hash << "\n";
        if (randomized)
            std::cout << "randomization " << gs::data::randomization_name(config.kind)
                      << (config.p > 0 ? " p " + fmt(config.p) : "")
                      << (config.always_different ? " (always a different class)" : "") << " seed " << config.seed
                      << ": labels changed " << fmt(train_changed) << " train, " << fmt(test_changed)
                      << " test; original hash " << original_hash << "\n";
        print_split("train", splits.train, train);
        print_split("test", splits.test, test);
    }
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"gs-data: inspect the datasets gradscope reads"};
    app.require_subcommand(1);
    InspectArgs a;
    CLI::App* inspect = app.add_subcommand("inspect", "counts, class histograms, pixel statistics and hashes");
    std::string known;
    for (const std::string& k : gs::data::known_datasets()) known += (known.empty() ? "" : ", ") + k;
    inspect->add_option("--dataset", a.dataset, "dataset name: " + known)->capture_default_str();
    inspect->add_option("--data-dir", a.data_dir,
                        std::string("dataset folder (fashion-mnist defaults to ") + gs::data::kFashionMnistDir + ")");
    inspect->add_option("--randomize", a.randomize,
                        "randomization of Zhang et al. to apply first: none, true_labels, partial_labels, "
                        "random_labels, shuffled_pixels, random_pixels, gaussian");
    inspect->add_option("--corrupt-prob", a.corrupt_prob, "partial_labels: corruption probability p")
        ->check(CLI::Range(0.0, 1.0));
    inspect->add_flag("--always-different", a.always_different, "a corrupted label is always another class");
    // CLI11 would otherwise wrap "-1" into 2^64 - 1 for an unsigned seed.
    const CLI::Validator non_negative(
        [](std::string& v) { return v.find('-') == std::string::npos ? std::string() : "must not be negative, got " + v; },
        "UINT");
    inspect->add_option("--seed", a.seed, "randomization seed")->check(non_negative)->capture_default_str();
    inspect->add_option("--image-size", a.image.size, "imagenet: output size (square)")->capture_default_str();
    inspect->add_option("--resize", a.image.resize, "imagenet: shorter side before the center crop (0 = size)");
    inspect->add_option("--threads", a.image.threads, "imagenet: decoding threads (0 = all cores)");
    inspect->add_option("--cache-dir", a.image.cache_dir, "imagenet: folder for the decoded-image cache");
    inspect->add_flag("--json", a.json, "print one JSON object");

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        const int rc = app.exit(e);
        return rc == 0 ? 0 : kUsageError;
    }
    try {
        if (inspect->parsed()) return run_inspect(a);
    } catch (const std::exception& e) {
        std::cerr << "gs-data: error: " << e.what() << "\n";
        return kUsageError;
    }
    return 0;
}
