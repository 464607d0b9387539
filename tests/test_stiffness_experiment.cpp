// gs-stiffness runs in process (experiments/stiffness/experiment.h): an interrupted and resumed run
// ends with the same stiffness records, stiffness.json and weights as an uninterrupted one; a
// learning-rate sweep compares its runs and resumes; a generated CIFAR-100-format folder yields
// super-class matrices (and none of the fine-to-super-class split under random labels).
#include <doctest/doctest.h>

#include <cstdint>
#include <fstream>
#include <string>
#include <vector>

#include "data/cifar.h"
#include "experiments/runner/classifier.h"
#include "experiments/runner/run_dir.h"
#include "experiments/stiffness/experiment.h"
#include "nn/safetensors.h"
#include "temp_dir.h"
#include "test_util.h"

using namespace gs;
using namespace gs::exp;
using namespace gs::exp::stiffness;
using test::TempDir;
using json = nlohmann::json;
using i64 = std::int64_t;
namespace fs = std::filesystem;

namespace {

// 300 Fashion-MNIST images in batches of 32 = 10 batches per epoch; 12 steps end in a partial
// second epoch, so the run has an epoch-end evaluation, a partial one and measurements at
// 0, 1, 2, 4, 8, 12.
ClassifierSpec tiny_spec() {
    ClassifierSpec s;
    s.train_examples = 300;
    s.test_examples = 100;
    s.widths = {16};
    s.steps = 12;
    s.batch_size = 32;
    s.lr = 0.05;
    s.momentum = 0.0;
    s.schedule = "constant";
    s.log_every = 3;
    s.seed = 3;
    return s;
}

ProbeOptions tiny_probes() {
    ProbeOptions o;
    o.per_class = 2;
    o.bins = 4;
    return o;
}

std::vector<json> timeless_metrics(const fs::path& path) {
    std::vector<json> out = read_metrics(path);
    for (auto& r : out) {
        r.erase("time");
        r.erase("examples_per_second");
    }
    return out;
}

void check_same_tensors(const fs::path& a, const fs::path& b) {
    const nn::SafetensorsFile fa = nn::load_safetensors(a), fb = nn::load_safetensors(b);
    REQUIRE(fa.tensors.size() == fb.tensors.size());
    for (std::size_t i = 0; i < fa.tensors.size(); ++i) {
        CHECK(fa.tensors[i].first == fb.tensors[i].first);
        CHECK(test::max_abs_diff(fa.tensors[i].second, fb.tensors[i].second) == 0.0);
    }
}

json without_time(json r) {
    r.erase("time");
    return r;
}

void check_resume_matches(i64 interrupt_step, i64 checkpoint_every) {
    TempDir tmp;
    Progress quiet(Progress::Mode::off);
    ClassifierSpec s = tiny_spec();
    s.checkpoint_every = checkpoint_every;
    const data::Splits data = load_classifier_data(s);
    RuntimeOptions rt;
    const ClassifierResult straight = run_stiffness(s, tiny_probes(), rt, tmp / "straight", false, quiet, &data);
    REQUIRE(straight.status == "complete");

    rt.interrupt_after_steps = interrupt_step;
    const ClassifierResult first = run_stiffness(s, tiny_probes(), rt, tmp / "resumed", false, quiet, &data);
    REQUIRE(first.status == "interrupted");
    rt.interrupt_after_steps = 0;
    const ClassifierResult second = run_stiffness(s, tiny_probes(), rt, tmp / "resumed", true, quiet, &data);
    REQUIRE(second.status == "complete");

    CHECK(timeless_metrics(tmp / "resumed" / "metrics.jsonl") == timeless_metrics(tmp / "straight" / "metrics.jsonl"));
    CHECK(read_json(tmp / "resumed" / "stiffness.json") == read_json(tmp / "straight" / "stiffness.json"));
    check_same_tensors(tmp / "resumed" / "checkpoint.safetensors", tmp / "straight" / "checkpoint.safetensors");
    CHECK(without_time(second.summary["final"]) == without_time(straight.summary["final"]));
    CHECK(second.summary["over_training"] == straight.summary["over_training"]);
    CHECK(second.summary["final_eval"] == straight.summary["final_eval"]);
    const json st = read_json(tmp / "straight" / "stiffness.json");
    REQUIRE(st["measurements"].size() == 6);
    CHECK(st["measurements"][5]["step"] == 12);
    CHECK(straight.summary["steps"] == 12);
}

}  // namespace

TEST_CASE("stiffness run: interrupted between measurements and resumed matches an uninterrupted run") {
    check_resume_matches(5, 0);
}

TEST_CASE("stiffness run: interrupted at a measurement step with periodic checkpoints resumes exactly") {
    check_resume_matches(8, 4);
}

TEST_CASE("stiffness run: interrupted at an epoch end resumes exactly and a finished run is kept") {
    check_resume_matches(10, 0);
    TempDir tmp;
    Progress quiet(Progress::Mode::off);
    const ClassifierSpec s = tiny_spec();
    const ClassifierResult done = run_stiffness(s, tiny_probes(), {}, tmp / "run", false, quiet);
    const ClassifierResult again = run_stiffness(s, tiny_probes(), {}, tmp / "run", true, quiet);
    CHECK(again.summary["final"] == done.summary["final"]);
    CHECK(again.summary["measure_seconds"] == done.summary["measure_seconds"]);
    CHECK_THROWS_WITH_AS(run_stiffness(s, tiny_probes(), {}, tmp / "run", false, quiet), doctest::Contains("already holds a run"),
                         Error);
    ProbeOptions bad = tiny_probes();
    bad.chunk = -1;
    CHECK_THROWS_WITH_AS(run_stiffness(s, bad, {}, tmp / "bad", false, quiet), doctest::Contains("--probe-chunk: must not be negative"),
                         Error);
}

TEST_CASE("stiffness run: chunked probe Grams give the same measurements") {
    TempDir tmp;
    Progress quiet(Progress::Mode::off);
    ClassifierSpec s = tiny_spec();
    s.steps = 2;
    const data::Splits data = load_classifier_data(s);
    ProbeOptions chunked = tiny_probes();
    chunked.chunk = 7;  // 40 probes: chunks of 7, ..., 7, 5
    run_stiffness(s, tiny_probes(), {}, tmp / "one", false, quiet, &data);
    run_stiffness(s, chunked, {}, tmp / "chunked", false, quiet, &data);
    const json a = read_json(tmp / "one" / "stiffness.json"), b = read_json(tmp / "chunked" / "stiffness.json");
    REQUIRE(a["measurements"].size() == b["measurements"].size());
    for (std::size_t k = 0; k < a["measurements"].size(); ++k) {
        const json& ma = a["measurements"][k];
        const json& mb = b["measurements"][k];
        // f32 model: the chunked passes may pick other per-layer methods (rounding only).
        for (const char* key : {"train_train", "train_val", "val_val", "train_within_class", "train_between_class"})
            CHECK(mb["cosine"][key].get<double>() == doctest::Approx(ma["cosine"][key].get<double>()).epsilon(1e-4));
        CHECK(mb["sign"] == ma["sign"]);  // signs of the same pairs: rounding does not flip them here
    }
}

TEST_CASE("learning-rate sweep: one run per rate that are compared and resume") {
    TempDir tmp;
    Progress quiet(Progress::Mode::off);
    ClassifierSpec s = tiny_spec();
    s.steps = 4;
    const data::Splits data = load_classifier_data(s);
    const std::vector<double> lrs{0.2, 0.02};  // given unsorted: runs and rows go by increasing rate
    RuntimeOptions rt;
    const ClassifierResult straight = run_lr_sweep(s, lrs, tiny_probes(), rt, tmp / "straight", false, quiet, &data);
    REQUIRE(straight.status == "complete");
    const json& sum = straight.summary;
    CHECK(sum["lrs"] == json::array({0.02, 0.2}));
    REQUIRE(sum["runs"].size() == 2);
    CHECK(sum["runs"][0]["dir"] == "lr-0.02");
    CHECK(sum["runs"][1]["final"]["step"] == 4);
    CHECK(sum["runs"][1]["over_training"].size() == 4);  // steps 0, 1, 2, 4
    for (const char* key : {"cosine_train_within_class", "cosine_train_between_class", "xi_half_euclidean"}) {
        const std::string d = sum["direction"][key].get<std::string>();
        CHECK((d == "increases" || d == "decreases" || d == "is not monotonic" || d == "is undetermined"));
    }
    CHECK(read_json(tmp / "straight" / "lr-0.2" / "summary.json")["config"]["lr"] == 0.2);
    const std::string text = test::read_file(tmp / "straight" / "report.md");
    CHECK(text.find("| 0.020 |") != std::string::npos);
    CHECK(text.find("between-class cosine stiffness (train probes) ") != std::string::npos);

    // Interrupted in the first rate's run: resuming finishes it, then runs the second.
    rt.interrupt_after_steps = 3;
    CHECK(run_lr_sweep(s, lrs, tiny_probes(), rt, tmp / "resumed", false, quiet, &data).status == "interrupted");
    CHECK_FALSE(fs::exists(tmp / "resumed" / "lr-0.2"));
    rt.interrupt_after_steps = 0;
    const ClassifierResult resumed = run_lr_sweep(s, lrs, tiny_probes(), rt, tmp / "resumed", true, quiet, &data);
    REQUIRE(resumed.status == "complete");
    for (std::size_t k = 0; k < 2; ++k) {
        CHECK(resumed.summary["runs"][k]["over_training"] == sum["runs"][k]["over_training"]);
        CHECK(without_time(resumed.summary["runs"][k]["final"]) == without_time(sum["runs"][k]["final"]));
    }
    CHECK(resumed.summary["direction"] == sum["direction"]);
    CHECK_THROWS_WITH_AS(run_lr_sweep(s, {0.1, 0.1}, tiny_probes(), rt, tmp / "twice", false, quiet, &data),
                         doctest::Contains("listed twice"), Error);
}

namespace {

// A CIFAR-100 binary folder (train.bin, test.bin, name files) in the real record format: coarse
// byte, fine byte, 3072 pixel bytes. Fine labels cycle through all 100 classes (37 is prime to
// 100), the super-class of fine class f is f % 20, pixels are a fixed hash.
void write_cifar100(const fs::path& dir, i64 n_train, i64 n_test) {
    fs::create_directories(dir);
    auto write = [&](const std::string& name, i64 n, i64 salt) {
        std::ofstream f(dir / name, std::ios::binary);
        std::uint32_t h = std::uint32_t(salt) * 2654435761u + 1;
        for (i64 i = 0; i < n; ++i) {
            const std::uint8_t fine = std::uint8_t((i * 37) % 100);
            const std::uint8_t rec[2] = {std::uint8_t(fine % 20), fine};
            f.write(reinterpret_cast<const char*>(rec), 2);
            for (int k = 0; k < 3072; ++k) {
                h = h * 1664525u + 1013904223u;
                const char px = char((h >> 24) / 2 + 4 * fine);  // a class-dependent offset
                f.write(&px, 1);
            }
        }
    };
    write("train.bin", n_train, 1);
    write("test.bin", n_test, 2);
    std::ofstream fine(dir / "fine_label_names.txt"), coarse(dir / "coarse_label_names.txt");
    for (int k = 0; k < 100; ++k) fine << "fine" << k << "\n";
    for (int k = 0; k < 20; ++k) coarse << "coarse" << k << "\n";
}

}  // namespace

TEST_CASE("CIFAR-100 format: super-class stiffness matrices in the records and summary and report") {
    TempDir tmp;
    Progress quiet(Progress::Mode::off);
    write_cifar100(tmp / "cifar", 200, 200);
    const data::Splits data = data::load_cifar100((tmp / "cifar").string(), {200, 200});
    ClassifierSpec s = tiny_spec();
    s.dataset = "cifar100";
    s.train_examples = 0;
    s.test_examples = 0;
    s.widths = {8};
    s.steps = 2;
    s.batch_size = 50;
    ProbeOptions o = tiny_probes();  // 2 per class: 200 train and 200 val probes
    o.chunk = 150;
    const ClassifierResult r = run_stiffness(s, o, {}, tmp / "run", false, quiet, &data);
    REQUIRE(r.status == "complete");
    const json st = read_json(tmp / "run" / "stiffness.json");
    CHECK(st["coarse_classes"] == 20);
    CHECK(st["examples"]["coarse_labels"].size() == 400);
    const json& m = st["measurements"][2];
    CHECK(m["superclass_stiffness"]["train"]["cosine"].size() == 20);
    CHECK(m["superclass_stiffness"]["val"]["sign"][19].size() == 20);
    CHECK(m["class_stiffness"]["train"]["cosine"].size() == 100);
    for (const char* key : {"train_within_superclass", "train_between_superclass", "train_between_class_same_superclass",
                            "train_between_class_other_superclass", "val_within_superclass"}) {
        REQUIRE_MESSAGE(r.summary["final"]["cosine"][key].is_number(), key);
        CHECK(std::abs(r.summary["final"]["cosine"][key].get<double>()) <= 1.0);
    }
    CHECK(r.summary["over_training"][0]["cosine"]["train_within_superclass"].is_number());
    const std::string text = test::read_file(tmp / "run" / "report.md");
    CHECK(text.find("Super-classes") != std::string::npos);

    // Random fine labels: super-class matrices still (by the true coarse labels), but no fine map.
    s.randomize = "random_labels";
    const ClassifierResult rr = run_stiffness(s, o, {}, tmp / "random", false, quiet, &data);
    CHECK(rr.summary["final"]["cosine"]["train_within_superclass"].is_number());
    CHECK(rr.summary["final"]["cosine"]["train_between_class_same_superclass"].is_null());
}
