// The gs-expressivity and gs-implicit-reg experiment drivers (experiments/zhang/*_experiment.h) on
// tiny Gaussian data: per-size results, resume from saved results, the linear part's min-norm
// limit and row-span invariant, and the flag names in validation errors; and what gs-randomization
// says of training examples a run leaves unfit.
#include <doctest/doctest.h>

#include <algorithm>
#include <cstdio>
#include <set>
#include <string>

#include "experiments/runner/run_dir.h"
#include "experiments/zhang/expressivity_experiment.h"
#include "experiments/zhang/implicit_reg_experiment.h"
#include "experiments/zhang/randomization.h"
#include "temp_dir.h"
#include "tensor/error.h"
#include "test_util.h"

using namespace gs;
using namespace gs::exp;
using namespace gs::exp::zhang;

namespace {

ExpressivitySpec tiny_expressivity() {
    ExpressivitySpec s;
    s.points = "gaussian";
    s.dim = 5;
    s.targets = "gaussian";
    s.sizes = {20, 60};
    s.sgd_max_n = 20;
    s.sgd_steps = 30;
    s.sgd_batch_size = 10;
    s.log_every = 5;
    return s;
}

}  // namespace

TEST_CASE("expressivity experiment fits every size and resumes from saved results") {
    test::TempDir dir("gs_expressivity");
    Progress progress(Progress::Mode::off);
    const ExpressivitySpec spec = tiny_expressivity();
    const ExpressivityResult r = run_expressivity(spec, RuntimeOptions{}, dir.path, false, progress);
    CHECK(r.status == "complete");
    REQUIRE(r.summary["sizes"].size() == 2);
    for (const auto& x : r.summary["sizes"]) {
        const auto n = x["n"].get<std::int64_t>();
        CHECK(x["weights"].get<std::int64_t>() == 2 * n + 5);
        // n <= 60 points: the rounding of an f64 sum of n terms, far below 1e-9 (measured ~1e-13).
        CHECK(x["max_residual_f64"].get<double>() < 1e-9);
        CHECK(x["residual_within_bound"].get<bool>());
        CHECK(x["lemma1_min_eigenvalue"].get<double>() > 0);
    }
    CHECK(r.summary["sizes"][0]["sgd"].is_object());
    CHECK(r.summary["sizes"][1]["sgd"].is_null());  // n = 60 > sgd_max_n
    CHECK(read_metrics(dir / "n20" / "metrics.jsonl").size() == 6);   // 30 steps, a record every 5
    CHECK(expressivity_report(r.summary).find("| 60 | 125 |") != std::string::npos);

    // A resumed run keeps a saved size as it is: mark n = 20's file and see the mark come back.
    nlohmann::json saved = read_json(dir / "n20" / "result.json");
    saved["fit_seconds"] = 12345.0;
    write_json_atomic(dir / "n20" / "result.json", saved);
    std::filesystem::remove(dir / "n60" / "result.json");
    const ExpressivityResult again = run_expressivity(spec, RuntimeOptions{}, dir.path, true, progress);
    CHECK(again.summary["sizes"][0]["fit_seconds"].get<double>() == 12345.0);
    CHECK(again.summary["sizes"][1]["max_residual_f64"] == r.summary["sizes"][1]["max_residual_f64"]);
}

TEST_CASE("expressivity spec errors name the flag") {
    ExpressivitySpec s = tiny_expressivity();
    s.sizes = {10, 10};
    CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("--sizes: must be strictly increasing"), gs::Error);
    s = tiny_expressivity();
    s.sgd_loss = "cross_entropy";  // Gaussian targets have no classes
    CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("--sgd-loss cross_entropy needs class targets"), gs::Error);
    s = tiny_expressivity();
    s.points = "fashion-mnist";
    CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("--dim: Fashion-MNIST points have 784"), gs::Error);
}

TEST_CASE("implicit reg linear part converges to the min norm interpolant inside the row span") {
    test::TempDir dir("gs_implicit_reg");
    Progress progress(Progress::Mode::off);
    ImplicitRegSpec s;
    s.linear_n = 30;
    s.linear_dim = 120;
    s.linear_epochs = 150;
    const nlohmann::json r = run_linear_part(s, "gaussian", dir.path, progress);
    CHECK(r["n"] == 30);
    CHECK(r["d"] == 120);
    // n / d = 1/4: every epoch shrinks the error by a constant factor, so 150 epochs reach rounding.
    CHECK(r["relative_distance"].get<double>() < 1e-9);
    // Every SGD step adds a multiple of a row of X: nothing outside the span beyond rounding.
    CHECK(r["off_span_norm"].get<double>() < 1e-10);
    CHECK(r["w_star_max_residual"].get<double>() < 1e-10);
    const auto records = read_metrics(dir / "metrics.jsonl");
    REQUIRE(records.size() == 151);  // epoch 0 (w = 0) and one per epoch
    CHECK(records.front()["distance"].get<double>() == doctest::Approx(r["w_star_norm"].get<double>()));
    CHECK(records.back()["distance"].get<double>() == doctest::Approx(r["distance"].get<double>()));
}

TEST_CASE("implicit reg spec errors name the flag") {
    ImplicitRegSpec s;
    s.linear_data = {"dataset"};
    s.linear_n = 800;
    s.linear_dim = 800;
    CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("--linear-n: dataset images have d = 784 < n = 800"), gs::Error);
    s = ImplicitRegSpec{};
    s.lambdas = {0.0, -1.0};
    CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("--lambda: every value must be >= 0"), gs::Error);
    s = ImplicitRegSpec{};
    s.dataset = "mnist";
    CHECK_THROWS_WITH_AS(s.validate(), doctest::Contains("--dataset mnist needs --data-dir"), gs::Error);
    // The memory arithmetic of the report: 40,000^2 f64 = 12.8 GB, plus the data and one block.
    CHECK(kernel_memory_bytes(40000, 784) == doctest::Approx(12.8e9 + 8.0 * 40000 * 784 + 268435456.0));
}

TEST_CASE("randomization experiment names the examples left unfit and their nearest training image") {
    // Two images appear twice under different labels: at least one of each pair can never be
    // fitted, and its nearest training image is its copy (distance 0) with the other label.
    test::TempDir dir("gs_randomization_unfit");
    Progress progress(Progress::Mode::off);
    RandomizationSpec spec;
    spec.models = {"mlp_1x512"};
    spec.settings = {"true_labels"};
    spec.corruption = {0.0};
    spec.other_lr = 0.05;
    spec.base.train_examples = 40;
    spec.base.test_examples = 50;
    spec.base.epochs = 40;
    spec.base.batch_size = 8;
    spec.base.schedule = "constant";
    spec.base.whiten = true;
    data::Splits data = load_classifier_data(spec.base);
    const std::int64_t N = data.train.size();
    test::append_conflicting_copies(data.train.images, data.train.labels, 2, data.train.num_classes);
    const RandomizationResult r = run_randomization(spec, RuntimeOptions{}, dir.path, false, progress, &data);
    REQUIRE(r.status == "complete");
    const nlohmann::json& run = r.summary["models"]["mlp_1x512"]["runs"]["true_labels"];
    CHECK(run["first_step_train_accuracy_100"].is_null());
    REQUIRE(run.contains("train_misclassified_details"));
    const std::string report = test::read_file(dir.path / "report.md");
    REQUIRE_FALSE(report.empty());
    std::set<std::int64_t> pairs;  // the first index of each copied pair with a member left unfit
    for (const auto& e : run["train_misclassified_details"]) {
        const std::int64_t i = e["index"].get<std::int64_t>();
        CHECK_FALSE(e["label_redrawn"].get<bool>());  // true labels: nothing was redrawn
        if (i >= 2 && i < N) continue;  // not one of the copied pairs (0, N) and (1, N + 1)
        const std::int64_t partner = i < N ? i + N : i - N;
        pairs.insert(std::min(i, partner));
        CHECK(e["nearest"] == partner);
        CHECK(e["relative_distance"] == 0.0);
        CHECK(e["nearest_label"] != e["label"]);
        const std::string line = " " + std::to_string(i) + " (label " + e["label"].dump() + "; nearest " +
                                 std::to_string(partner) + " at 0.000, label " + e["nearest_label"].dump() + ")";
        CHECK_MESSAGE(report.find(line) != std::string::npos, line);
    }
    CHECK(pairs.size() == 2);
    CHECK(r.summary["models"]["mlp_1x512"]["checks"]["every_setting_fits"] == false);
}
