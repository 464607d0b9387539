// The experiment runner: flags and config round trip, metrics files, and the training loop's
// contracts - an interrupted and resumed run ends exactly like an uninterrupted one, random labels
// are fitted, and runs never overwrite each other.
#include <doctest/doctest.h>

#include <fstream>
#include <string>

#include "autograd/variable.h"
#include "experiments/runner/classifier.h"
#include "experiments/runner/flags.h"
#include "experiments/runner/run_dir.h"
#include "kernels/cuda_settings.h"
#include "kernels/reduce.h"
#include "nn/safetensors.h"
#include "temp_dir.h"
#include "tensor/error.h"
#include "test_util.h"

using namespace gs;
using namespace gs::exp;
using test::TempDir;
namespace fs = std::filesystem;

namespace {

// A small problem that still has several epochs, log records and a partial last batch:
// 500 examples in batches of 64 = 8 batches per epoch (the last one of 52).
ClassifierSpec tiny_spec() {
    ClassifierSpec s;
    s.train_examples = 500;
    s.test_examples = 200;
    s.widths = {32};
    s.epochs = 3;
    s.batch_size = 64;
    s.log_every = 3;
    s.lr = 0.05;
    s.seed = 5;
    return s;
}

// A one-hidden-layer MLP on the first `train` Fashion-MNIST images with uniformly random labels,
// at a constant rate high enough to fit them within `epochs`, stopping at the fit.
ClassifierSpec random_label_fit_spec(std::int64_t train, std::int64_t test, std::int64_t width, std::int64_t epochs) {
    ClassifierSpec s;
    s.train_examples = train;
    s.test_examples = test;
    s.randomize = "random_labels";
    s.widths = {width};
    s.epochs = epochs;
    s.batch_size = 32;
    s.lr = 0.05;
    s.schedule = "constant";
    s.stop_at_fit = true;
    return s;
}

// Metrics records without the wall-clock fields, which legitimately differ between runs.
std::vector<nlohmann::json> timeless_metrics(const fs::path& path) {
    std::vector<nlohmann::json> out = read_metrics(path);
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

void check_resume_matches(std::int64_t interrupt_step, std::int64_t checkpoint_every) {
    TempDir tmp;
    Progress quiet(Progress::Mode::off);
    ClassifierSpec s = tiny_spec();
    s.checkpoint_every = checkpoint_every;
    const data::Splits data = load_classifier_data(s);
    RuntimeOptions rt;
    const ClassifierResult straight = train_classifier(s, rt, tmp / "straight", false, quiet, &data);
    REQUIRE(straight.status == "complete");

    rt.interrupt_after_steps = interrupt_step;
    const ClassifierResult first = train_classifier(s, rt, tmp / "resumed", false, quiet, &data);
    REQUIRE(first.status == "interrupted");
    CHECK(first.summary["steps"] == interrupt_step);
    rt.interrupt_after_steps = 0;
    const ClassifierResult second = train_classifier(s, rt, tmp / "resumed", true, quiet, &data);
    REQUIRE(second.status == "complete");

    for (const char* key : {"final", "best", "steps", "epochs", "first_step_train_accuracy_100"})
        CHECK_MESSAGE(second.summary[key] == straight.summary[key], key);
    CHECK(timeless_metrics(tmp / "resumed" / "metrics.jsonl") == timeless_metrics(tmp / "straight" / "metrics.jsonl"));
    check_same_tensors(tmp / "resumed" / "checkpoint.safetensors", tmp / "straight" / "checkpoint.safetensors");
}

}  // namespace

TEST_CASE("runner: a run interrupted mid-epoch and resumed ends bit for bit like an uninterrupted one") {
    check_resume_matches(11, 0);
}

TEST_CASE("runner: interruption at an epoch's last step and periodic checkpoints resume exactly") {
    check_resume_matches(8, 5);
}

TEST_CASE("runner: resuming a finished run returns its summary and a second fresh run is refused") {
    TempDir tmp;
    Progress quiet(Progress::Mode::off);
    ClassifierSpec s = tiny_spec();
    s.epochs = 1;
    const ClassifierResult done = train_classifier(s, {}, tmp / "run", false, quiet);
    const std::int64_t lines = std::int64_t(read_metrics(tmp / "run" / "metrics.jsonl").size());
    const ClassifierResult again = train_classifier(s, {}, tmp / "run", true, quiet);
    CHECK(again.status == "complete");
    CHECK(again.summary["final"] == done.summary["final"]);
    CHECK(std::int64_t(read_metrics(tmp / "run" / "metrics.jsonl").size()) == lines);
    CHECK_THROWS_WITH_AS(train_classifier(s, {}, tmp / "run", false, quiet), doctest::Contains("already holds a run"), Error);
    CHECK_THROWS_WITH_AS(train_classifier(s, {}, tmp / "none", true, quiet), doctest::Contains("nothing to resume"), Error);
}

TEST_CASE("runner: the CUDA mode flags (--deterministic --tf32 --cudnn-benchmark) set the kernels' modes and are recorded in the summary") {
    TempDir tmp;
    Progress quiet(Progress::Mode::off);
    ClassifierSpec s = tiny_spec();
    s.epochs = 1;
    RuntimeOptions rt;
    rt.deterministic = true;
    rt.tf32 = true;
    rt.cudnn_benchmark = true;
    const ClassifierResult on = train_classifier(s, rt, tmp / "on", false, quiet);
    CHECK(kernels::deterministic());
    CHECK(kernels::allow_tf32());
    CHECK(kernels::conv_benchmark());
    CHECK(on.summary["deterministic"] == true);
    CHECK(on.summary["tf32"] == true);
    CHECK(on.summary["cudnn_benchmark"] == true);
    const ClassifierResult off = train_classifier(s, {}, tmp / "off", false, quiet);
    CHECK_FALSE(kernels::deterministic());
    CHECK_FALSE(kernels::allow_tf32());
    CHECK_FALSE(kernels::conv_benchmark());
    CHECK(off.summary["tf32"] == false);
    CHECK(off.summary["cudnn_benchmark"] == false);
}

TEST_CASE("runner: an MLP fits random labels and stays at chance on the test split") {
    // Zhang et al. §2 on a small scale: 256 Fashion-MNIST images with uniformly random labels.
    TempDir tmp;
    Progress quiet(Progress::Mode::off);
    const ClassifierSpec s = random_label_fit_spec(256, 1000, 512, 60);
    const ClassifierResult r = train_classifier(s, {}, tmp / "random", false, quiet);
    REQUIRE(r.summary["first_step_train_accuracy_100"].is_number_integer());
    CHECK(r.summary["final"]["train_accuracy"] == 1.0);
    // Chance is 10%; with 1000 test examples the binomial std is ~1%, so 16% is far out.
    CHECK(r.summary["final"]["test_accuracy"].get<double>() < 0.16);
    CHECK(r.summary["epochs"].get<std::int64_t>() < 60);  // it stopped at the fit
    CHECK_FALSE(r.summary["final"].contains("train_misclassified"));  // nothing left to name
}

TEST_CASE("runner: train_eval_until_error finds the same fit as whole evaluations and ends with a whole one") {
    // Random labels on 128 images: a fit after some epochs. The cut evaluations must give the same
    // first fit step and the same final numbers, and the epochs before the fit record no train
    // accuracy (they were cut at a mistake).
    TempDir tmp;
    Progress quiet(Progress::Mode::off);
    ClassifierSpec s = random_label_fit_spec(128, 100, 256, 80);
    const ClassifierResult whole = train_classifier(s, {}, tmp / "whole", false, quiet);
    s.train_eval_until_error = true;
    const ClassifierResult cut = train_classifier(s, {}, tmp / "cut", false, quiet);
    REQUIRE(whole.summary["first_step_train_accuracy_100"].is_number_integer());
    CHECK(cut.summary["first_step_train_accuracy_100"] == whole.summary["first_step_train_accuracy_100"]);
    CHECK(cut.summary["final"] == whole.summary["final"]);
    CHECK(cut.summary["config"]["train_eval_until_error"] == true);
    CHECK_FALSE(whole.summary["config"].contains("train_eval_until_error"));
    int cut_epochs = 0, fit_epochs = 0;
    for (const nlohmann::json& r : read_metrics(tmp / "cut" / "metrics.jsonl")) {
        if (r["kind"] != "epoch") continue;
        if (r["train_accuracy"].is_null()) {
            CHECK(r["train_loss"].is_null());
            ++cut_epochs;
        } else {
            CHECK(r["train_accuracy"] == 1.0);  // only the fitting epoch is evaluated whole
            ++fit_epochs;
        }
    }
    CHECK(cut_epochs >= 1);
    CHECK(fit_epochs == 1);

    // A run that ends at its epoch cap unfitted still ends with a whole evaluation.
    s.epochs = 2;
    const ClassifierResult capped = train_classifier(s, {}, tmp / "capped", false, quiet);
    CHECK(capped.summary["first_step_train_accuracy_100"].is_null());
    REQUIRE(capped.summary["final"]["train_accuracy"].is_number());
    CHECK(capped.summary["final"]["train_accuracy"].get<double>() < 1.0);
}

TEST_CASE("runner: a run short of 100% training accuracy names the training examples it gets wrong") {
    // Three images appear twice with different labels, so at least three examples can never be
    // fitted; the list must equal an independent evaluation of the saved weights.
    TempDir tmp;
    Progress quiet(Progress::Mode::off);
    ClassifierSpec s;
    s.train_examples = 64;
    s.test_examples = 100;
    s.widths = {128};
    s.epochs = 30;
    s.batch_size = 16;
    s.lr = 0.05;
    s.schedule = "constant";
    data::Splits d = load_classifier_data(s);
    test::append_conflicting_copies(d.train.images, d.train.labels, 3, 10);
    const std::vector<std::int64_t> labels = d.train.labels.to_vector<std::int64_t>();
    const ClassifierResult r = train_classifier(s, {}, tmp / "run", false, quiet, &d);

    std::shared_ptr<nn::Module> model = build_classifier_model(s.model, s.widths, s.seed, 1, 28, 28, 10);
    nn::NamedTensors weights;
    for (auto& [name, t] : nn::load_safetensors(tmp / "run" / "checkpoint.safetensors").tensors)
        if (name.rfind("optimizer.", 0) != 0) weights.emplace_back(name, t);
    model->load_state_dict(weights);
    model->eval();
    autograd::NoGradGuard no_grad;
    const Tensor x = classifier_pipeline(s, false)(d.train.images, s.seed, 0, 0);
    const std::vector<std::int64_t> pred = kernels::argmax((*model)(autograd::Variable(x)).value(), 1).to_vector<std::int64_t>();
    std::vector<std::int64_t> wrong;
    for (std::size_t i = 0; i < pred.size(); ++i)
        if (pred[i] != labels[i]) wrong.push_back(std::int64_t(i));
    REQUIRE(wrong.size() >= 3);
    REQUIRE(wrong.size() <= 20);  // the runner lists up to 20
    CHECK(r.summary["final"]["train_misclassified"] == nlohmann::json(wrong));
}

TEST_CASE("runner: invalid specs are rejected naming the flag") {
    ClassifierSpec s = tiny_spec();
    s.lr = -1;
    CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("--lr: must be positive"), Error);
    s = tiny_spec();
    s.model = "resnet";
    CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("--model: unknown model 'resnet'"), Error);
    s = tiny_spec();
    s.randomize = "partial_labels";
    CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("needs --corrupt-prob"), Error);
    s = tiny_spec();
    s.widths = {};
    CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("--widths"), Error);
}

TEST_CASE("metrics log: resume keeps the records up to the checkpoint and skips a torn last line") {
    TempDir tmp;
    const fs::path p = tmp / "metrics.jsonl";
    {
        MetricsLog log = MetricsLog::create(p);
        for (int step = 1; step <= 5; ++step) log.append({{"step", step}, {"loss", 1.0 / step}});
    }
    {
        std::ofstream torn(p, std::ios::app);
        torn << "{\"step\": 6, \"lo";  // what a crash mid-append leaves
    }
    CHECK(read_metrics(p).size() == 5);
    {
        MetricsLog log = MetricsLog::resume(p, 3);
        log.append({{"step", 4}, {"loss", 0.0}});
    }
    const auto records = read_metrics(p);
    REQUIRE(records.size() == 4);
    CHECK(records[2]["step"] == 3);
    CHECK(records[3]["loss"] == 0.0);
    {
        std::ofstream bad(p, std::ios::app);
        bad << "not json\n";
    }
    CHECK_THROWS_WITH_AS(read_metrics(p), doctest::Contains("line 5 is not valid JSON"), Error);
}

TEST_CASE("flags: the resolved config reads back through --config and presets yield to given flags") {
    TempDir tmp;
    auto make = [](CLI::App& app, Flags& f, double& lr, std::int64_t& epochs, bool& crop, std::vector<std::int64_t>& widths) {
        (void)app;
        f.option("--lr", lr, "");
        f.option("--epochs", epochs, "");
        f.flag("--random-crop", crop, "");
        f.option("--widths", widths, "");
    };
    double lr = 0.01;
    std::int64_t epochs = 10;
    bool crop = false;
    std::vector<std::int64_t> widths{512};
    {
        CLI::App app{"t", "t"};
        Flags f(app);
        make(app, f, lr, epochs, crop, widths);
        const char* argv[] = {"t", "--lr", "0.3", "--random-crop", "--widths", "7,8"};
        REQUIRE(parse_flags(app, 6, argv) == -1);
        f.preset("--lr", lr, 9.0);      // given: kept
        f.preset("--epochs", epochs, std::int64_t(4));  // not given: the preset applies
        write_json_atomic(tmp / "unused.json", nlohmann::json::object());
        std::ofstream(tmp / "c.toml") << f.to_toml();
    }
    CHECK(lr == 0.3);
    CHECK(epochs == 4);
    double lr2 = 0;
    std::int64_t epochs2 = 0;
    bool crop2 = false;
    std::vector<std::int64_t> widths2;
    CLI::App app{"t", "t"};
    Flags f(app);
    make(app, f, lr2, epochs2, crop2, widths2);
    const std::string config = (tmp / "c.toml").string();
    const char* argv[] = {"t", "--config", config.c_str(), "--no-random-crop"};
    REQUIRE(parse_flags(app, 4, argv) == -1);
    CHECK(lr2 == 0.3);
    CHECK(epochs2 == 4);
    CHECK(crop2 == false);  // the command line wins over the file
    CHECK(widths2 == std::vector<std::int64_t>{7, 8});
    CHECK(Flags::to_toml(0.9) == "0.9");
    CHECK(Flags::to_toml(2.0) == "2.0");
}
