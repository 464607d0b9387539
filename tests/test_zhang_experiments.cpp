// The gs-expressivity and gs-implicit-reg experiment drivers (experiments/zhang/*_experiment.h) on
// tiny Gaussian data: per-size results, resume from saved results, the linear part's min-norm
// limit and row-span invariant, and the flag names in validation errors.
#include <doctest/doctest.h>

#include <cstdio>
#include <string>

#include "experiments/runner/run_dir.h"
#include "experiments/zhang/expressivity_experiment.h"
#include "experiments/zhang/implicit_reg_experiment.h"
#include "temp_dir.h"
#include "tensor/error.h"

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
