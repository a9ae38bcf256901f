// Curves to IsoFLOP points and what a guide may print: the lag-free smoother
// against the EMA on a known curve, budgets read off run directories' curves
// (warm-up, grids, the best setting per budget and size), the paper's own
// design (its masked-diffusion law recovered from the curves of its sweep),
// and floors and extrapolation limits, through the rules and the `analyze` CLI
// on runs of a known world and on the lower envelope.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>
#include <sstream>

#include <nlohmann/json.hpp>

#include "analysis_test_util.h"
#include "budgets.h"
#include "envelope.h"
#include "isoflop.h"
#include "report.h"
#include "runs.h"
#include "surface_fit.h"
#include "test_util.h"
#include "validity.h"

namespace scalebed::analysis {
namespace {

TEST(Curves, SmoothingFollowsAFallingCurveWithoutTheEmasLag) {
  // L(s) = 2.2 + 6·s^-0.45 logged every 10 steps: the local-linear smoother
  // in log step against the one-sided EMA (γ 0.96) the analysis used before.
  auto truth = [](double s) { return 2.2 + 6.0 * std::pow(s, -0.45); };
  std::vector<double> steps, exact, noisy;
  std::mt19937_64 rng(5);
  std::normal_distribution<double> noise(0.0, 0.01);
  for (int s = 10; s <= 4000; s += 10) {
    steps.push_back(s);
    exact.push_back(truth(s));
    noisy.push_back(truth(s) * std::exp(noise(rng)));
  }
  // Bias: on the noise-free curve it stays on the curve, the last point included.
  const auto smooth = smooth_curve(steps, exact);
  for (size_t i = 2; i < steps.size(); ++i) {
    EXPECT_NEAR(smooth[i] / exact[i], 1.0, 5e-4) << steps[i];
  }
  // The EMA lags: at step 300 it still reads the higher loss of earlier steps.
  double acc = 0, weight = 0, ema300 = 0;
  for (size_t i = 0; steps[i] <= 300; ++i) {
    acc = 0.96 * acc + 0.04 * exact[i], weight = 0.96 * weight + 0.04;
    ema300 = acc / weight;
  }
  EXPECT_GT(ema300 / truth(300) - 1, 0.01);
  // Noise: 1% per logged point falls to a third of that once the window holds
  // many points (from step 1,000 on).
  const auto denoised = smooth_curve(steps, noisy);
  double sum_sq = 0;
  int n = 0;
  for (size_t i = 0; i < steps.size(); ++i) {
    if (steps[i] >= 1000) sum_sq += std::pow(denoised[i] / exact[i] - 1, 2), ++n;
  }
  EXPECT_LT(std::sqrt(sum_sq / n), 0.0033);
}

// A run directory whose metrics.jsonl logs the mean train_metric of every 10
// steps of a known curve (and a single-step train_metric 0.5 off, which the
// reader must not use) and the curve as val_loss every 50 steps, with the
// schedule the trainer records.
void write_curve_run(const std::string& root, const std::string& name, double n,
                     double batch_tokens, double per_token, int steps, const std::string& schedule,
                     const std::function<double(double)>& curve, double lr = 0.5) {
  const double d = steps * batch_tokens;
  nlohmann::json s = {{"format", 1},
                      {"name", name},
                      {"status", "done"},
                      {"objective", "ar"},
                      {"loss_kind", "nll"},
                      {"params", {{"embedding", 1}, {"non_embedding", n}, {"total", n + 1}}},
                      {"tokens", d},
                      {"steps", steps},
                      {"batch_tokens", batch_tokens},
                      {"base_lr", lr},
                      {"schedule", {{"kind", schedule}, {"warmup_steps", 40}}},
                      {"flops", {{"6nd", 6 * n * d}, {"palm", 7 * n * d}, {"md", per_token * d}}},
                      {"flops_per_token", {{"6nd", 6 * n}, {"palm", 7 * n}, {"md", per_token}}},
                      {"final_val_loss", curve(steps)},
                      {"optimal_val_loss", 1.0}};
  testing::write_text(root + "/" + name + "/summary.json", s.dump());
  std::string metrics;
  for (int step = 10; step <= steps; step += 10) {
    double mean = 0;
    for (int k = step - 9; k <= step; ++k) mean += curve(k) / 10;
    nlohmann::json line = {{"step", step},
                           {"flops_md", per_token * step * batch_tokens},
                           {"train_metric", curve(step) + 0.5},
                           {"train_metric_mean", mean}};
    if (step % 50 == 0) line["val_loss"] = curve(step);  // an evaluation every 50 steps
    metrics += line.dump() + "\n";
  }
  testing::write_text(root + "/" + name + "/metrics.jsonl", metrics + "{\"step\": 1");  // torn
  testing::write_text(root + "/" + name + "/DONE", "done\n");
}

TEST(Budgets, LossesAreReadOffEachConstantLrCurveAfterItsWarmup) {
  testing::TempDir dir;
  auto curve = [](double step) { return 2.0 + 5.0 * std::pow(step, -0.4); };
  // 1,000 steps of 2,048 tokens at 1e6 FLOPs per token: 2.048e12 FLOPs.
  write_curve_run(dir.path(), "a", 2e5, 2048, 1e6, 1000, "constant", curve);
  write_curve_run(dir.path(), "b", 2e5, 2048, 1e6, 1000, "cosine",
                  curve);  // not a shorter run's curve
  const auto curves = read_run_curves(dir.path(), "md");
  ASSERT_EQ(curves.size(), 2u);
  EXPECT_TRUE(curves[0].constant_lr());
  EXPECT_FALSE(curves[1].constant_lr());
  EXPECT_EQ(curves[0].steps.size(), 100u);
  EXPECT_DOUBLE_EQ(curves[0].steps[0], 5.5);  // the midpoint of the steps the mean covers
  EXPECT_DOUBLE_EQ(first_readable_step(curves[0]), 100);  // 2.5 x 40 warm-up steps
  // Budgets every 0.1 decade from 1e10 to 1e13: readable from step 100
  // (2.048e11 FLOPs) to step 1000 (2.048e12).
  const auto points = points_at_budgets(curves, budget_grid("1e10:1e13:31", curves));
  ASSERT_EQ(points.size(), 10u);  // 10^11.4 ... 10^12.3
  for (const auto& p : points) {
    const double step = p.tokens / 2048;
    EXPECT_GE(step, 100);
    EXPECT_LE(step, 1000);
    EXPECT_NEAR(p.flops, std::stod(p.extra.at("budget")), 1e-5 * p.flops);
    EXPECT_NEAR(p.loss, curve(step), 0.002 * curve(step)) << step;
    EXPECT_EQ(p.extra.at("name"), "a");
  }
  // --min-steps 300 leaves out the budgets before step 300.
  const auto later = points_at_budgets(curves, budget_grid("1e10:1e13:31", curves), 300);
  ASSERT_EQ(later.size(), 6u);  // step 300 is 10^11.79 FLOPs: 10^11.8 ... 10^12.3
  for (const auto& p : later) EXPECT_GE(p.tokens / 2048, 300);
  // The held-out curve: one point per evaluation, read the same way.
  const auto val = read_run_curves(dir.path(), "md", "val");
  ASSERT_EQ(val.size(), 2u);
  EXPECT_EQ(val[0].steps.size(), 20u);
  EXPECT_DOUBLE_EQ(val[0].steps[0], 50);
  for (const auto& p : points_at_budgets(val, budget_grid("1e10:1e13:31", val))) {
    EXPECT_NEAR(p.loss, curve(p.tokens / 2048), 0.002 * p.loss);
  }
  EXPECT_THROW(read_run_curves(dir.path(), "md", "test"), AnalysisError);
}

TEST(Budgets, DamagedMetricsLinesAreCountedAndNamed) {
  // Unparsable lines and repeated steps (two writers on one run) were
  // skipped without a word.
  testing::TempDir dir;
  auto curve = [](double step) { return 2.0 + 5.0 * std::pow(step, -0.4); };
  write_curve_run(dir.path(), "a", 2e5, 2048, 1e6, 1000, "constant", curve);
  write_curve_run(dir.path(), "b", 2e5, 2048, 1e6, 1000, "constant", curve);
  const std::string metrics = dir / "a/metrics.jsonl";
  std::string text = testing::read_text(metrics);
  text = text.substr(0, text.rfind('\n') + 1);  // without the torn last line
  const std::string first_200 = text.substr(0, [&] {
    size_t at = 0;
    for (int i = 0; i < 20; ++i) at = text.find('\n', at) + 1;
    return at;
  }());
  testing::write_text(metrics, text + "not json\n" + first_200);  // steps 10..200 again
  const auto curves = read_run_curves(dir.path(), "md");
  ASSERT_EQ(curves.size(), 2u);
  EXPECT_EQ(curves[0].unparsable_lines, 1);
  EXPECT_EQ(curves[0].repeated_steps, 20);
  EXPECT_EQ(curves[0].steps.size(), 100u);   // the first copy of every step
  EXPECT_EQ(curves[1].unparsable_lines, 0);  // its torn last line is not damage
  EXPECT_EQ(curves[1].repeated_steps, 0);
  auto r = testing::run_process({SCALEBED_ANALYZE_PATH, dir.path(), "--flops", "md"});
  EXPECT_NE(r.output.find("warning: a/metrics.jsonl: 1 unparsable line(s) and 20 repeated or "
                          "out-of-order step(s) skipped"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("warning: b/metrics.jsonl"), std::string::npos) << r.output;
}

TEST(Budgets, GridSpecsAndTheirErrors) {
  testing::TempDir dir;
  auto curve = [](double step) { return 2.0 + 5.0 * std::pow(step, -0.4); };
  // Three sizes whose curves overlap between 1e11 and 1e12 FLOPs.
  write_curve_run(dir.path(), "a", 1e5, 2048, 5e5, 1000, "constant", curve);
  write_curve_run(dir.path(), "b", 2e5, 2048, 1e6, 500, "constant", curve);
  write_curve_run(dir.path(), "c", 4e5, 2048, 2e6, 250, "constant", curve);
  const auto curves = read_run_curves(dir.path(), "md");
  const auto grid = budget_grid("1e10:1e12:3", curves);
  ASSERT_EQ(grid.size(), 3u);
  EXPECT_NEAR(grid[1], 1e11, 1e-3);
  // auto: 8 per decade from the earliest readable point (a's step 100: 2.5 x
  // 40 warm-up steps, 1.024e11 FLOPs) to the end of the longest run (1.024e12).
  const auto automatic = budget_grid("auto", curves);
  ASSERT_EQ(automatic.size(), 8u);
  EXPECT_NEAR(automatic.front(), std::pow(10.0, 11.125), 1);
  EXPECT_NEAR(automatic.back(), 1e12, 1);
  EXPECT_EQ(budget_grid("2/decade", curves).size(), 2u);
  // Profiles only where all three sizes were read: c's from 4.1e11 on.
  const auto points = points_at_budgets(curves, automatic);
  size_t kept = 0, dropped = 0;
  const auto profiles = profile_budgets(points, &kept, &dropped);
  EXPECT_EQ(kept, 4u);
  EXPECT_EQ(dropped, 4u);
  for (const auto& p : profiles) EXPECT_GT(p.flops, 4e11);
  EXPECT_EQ(fit_isoflop(profiles).profiles.size(), 4u);
  for (const auto& [spec, message] : std::vector<std::pair<std::string, std::string>>{
           {"many", "expected auto, K/decade or LO:HI:COUNT"},
           {"0/decade", "'0' is not a positive number"},
           {"1e12:1e10:3", "expected LO <= HI"},
           {"1e10:1e12", "expected LO:HI:COUNT"},
           {"1e10:x:3", "'x' is not a positive number"}}) {
    try {
      budget_grid(spec, curves);
      ADD_FAILURE() << spec << " was accepted";
    } catch (const AnalysisError& e) {
      EXPECT_NE(std::string(e.what()).find(message), std::string::npos) << e.what();
    }
  }
}

TEST(Budgets, TheBestSettingPerBudgetAndSizeCountsSeedsByTheirMean) {
  auto point = [](const std::string& budget, double n, double lr, const std::string& seed,
                  double loss) {
    Point p;
    p.params = n, p.tokens = 1e6, p.flops = std::stod(budget), p.loss = loss;
    p.extra = {{"budget", budget},
               {"batch_tokens", "2048"},
               {"base_lr", std::to_string(lr)},
               {"seed", seed},
               {"name", "r" + std::to_string(lr) + seed}};
    return p;
  };
  // At one (budget, size): LR 0.5 over two seeds (1.0 and 1.4: mean 1.2)
  // against LR 1.0 once (1.1). The lucky seed must not win on its own.
  const std::vector<Point> points = {
      point("1e12", 1e5, 0.5, "0", 1.0), point("1e12", 1e5, 0.5, "1", 1.4),
      point("1e12", 1e5, 1.0, "0", 1.1), point("1e12", 2e5, 0.5, "0", 0.9),
      point("1e13", 1e5, 0.5, "0", 0.8)};
  auto best = best_per_budget_and_size(points);
  ASSERT_EQ(best.size(), 3u);
  std::sort(best.begin(), best.end(), [](const Point& a, const Point& b) {
    return std::tie(a.flops, a.params) < std::tie(b.flops, b.params);
  });
  EXPECT_DOUBLE_EQ(best[0].loss, 1.1);
  EXPECT_EQ(best[0].extra.at("base_lr"), std::to_string(1.0));
  EXPECT_EQ(best[0].extra.at("settings"), "2");
  EXPECT_DOUBLE_EQ(best[1].loss, 0.9);
  EXPECT_DOUBLE_EQ(best[2].loss, 0.8);
  // Points that were not read at a budget pass through unchanged.
  Point plain;
  plain.params = 1, plain.loss = 3;
  EXPECT_EQ(best_per_budget_and_size({plain, plain}).size(), 2u);
}

TEST(Validity, FloorsAndExtrapolationLimitsOfPrintedLosses) {
  Validity v;
  v.floor = 1.2, v.floor_source = "test", v.c_min = 1e10, v.c_max = 1e12, v.max_decades = 2;
  EXPECT_EQ(v.refusal(1e11, 1.5, false), "");
  EXPECT_NE(v.refusal(1e11, 1.1, true).find("below the known floor 1.2000 (test)"),
            std::string::npos);
  // A floor-free power law stops 2 decades out; a law with a floor does not.
  EXPECT_EQ(v.refusal(1e14, 1.5, false), "");
  EXPECT_NE(v.refusal(1.1e14, 1.5, false).find("2.0 decades beyond"), std::string::npos);
  EXPECT_EQ(v.refusal(1e20, 1.5, true), "");
  // ...unless the points do not determine its E: then it stops there too.
  Validity undetermined = v;
  undetermined.surface_e_undetermined = true;
  EXPECT_EQ(undetermined.refusal(1e14, 1.5, true), "");
  EXPECT_NE(undetermined.refusal(1.1e14, 1.5, true).find("the surface's E is not determined"),
            std::string::npos);
  EXPECT_EQ(undetermined.refusal(1e9, 1.5, true), "");  // 1 decade below the range
  EXPECT_NE(undetermined.refusal(1e7, 1.5, true).find("3.0 decades beyond"), std::string::npos);
  EXPECT_EQ(v.where(1e11), "in range");
  EXPECT_EQ(v.where(1e13), "+1.0 dec");
  EXPECT_EQ(v.where(1e9), "−1.0 dec");
  std::vector<std::string> notes;
  EXPECT_EQ(v.cell(1e11, 1.1, true, &notes), "—");
  EXPECT_EQ(v.cell(1e11, 1.05, true, &notes), "—");
  EXPECT_EQ(notes.size(), 1u);  // one reason, said once
  EXPECT_EQ(v.cell(1e11, 1.25, true, &notes), "1.2500");
  // Interval ends below the floor are shown as the floor.
  EXPECT_EQ(v.interval(1.1, 1.4), "floor 1.2000 – 1.4000");
  EXPECT_EQ(v.interval(1.3, 1.4), "1.3000 – 1.4000");
  // The floor the points carry: run directories of a synthetic source.
  Point a, b;
  a.extra["optimal_loss"] = "1.23", b.extra["optimal_loss"] = "1.25";
  EXPECT_DOUBLE_EQ(known_floor({a, b, a}), 1.23);
  EXPECT_DOUBLE_EQ(known_floor({a, Point{}}), 0);
}

TEST(Envelope, AKnownFloorIsTheLowestEItMayTake) {
  // A frontier L(C) = E + 50·C^-0.2 (each point beats every cheaper one).
  auto frontier = [](double E) {
    std::vector<Point> pts;
    for (double c = 1e10; c <= 1e12; c *= 2) {  // lowest loss E + 0.2
      Point p;
      p.flops = c, p.params = std::sqrt(c / 6), p.tokens = std::sqrt(c / 6);
      p.loss = E + 50 * std::pow(c, -0.2);
      pts.push_back(p);
    }
    return pts;
  };
  const auto pts = frontier(0.5);
  EXPECT_NEAR(fit_envelope(pts).E, 0.5, 0.01);
  EXPECT_NEAR(fit_envelope(pts, 0.4).E, 0.5, 0.01);     // a floor below E changes nothing
  const EnvelopeResult above = fit_envelope(pts, 0.6);  // a floor above the law's E
  ASSERT_TRUE(above.fitted);
  EXPECT_NEAR(above.E, 0.6, 1e-12);
  EXPECT_NE(above.note.find("sits at the known floor"), std::string::npos);
  const EnvelopeResult reached = fit_envelope(pts, 2.0);  // at or above the lowest loss
  EXPECT_FALSE(reached.fitted);
  EXPECT_NE(reached.note.find("reaches the known floor"), std::string::npos);
  const EnvelopeResult pure = fit_envelope(frontier(0.0));  // a pure power law
  EXPECT_DOUBLE_EQ(pure.E, 0.0);
  EXPECT_NE(pure.note.find("E = 0"), std::string::npos);
}

// The data rows of a guide's allocation.csv, split at commas (its quoted
// columns hold no comma).
std::vector<std::vector<std::string>> allocation_rows(const std::string& path) {
  std::istringstream csv(testing::read_text(path));
  std::string line;
  std::getline(csv, line);  // header
  std::vector<std::vector<std::string>> rows;
  while (std::getline(csv, line)) {
    std::vector<std::string> cells;
    std::stringstream row(line);
    for (std::string c; std::getline(row, c, ',');) cells.push_back(c);
    rows.push_back(cells);
  }
  return rows;
}

TEST(Report, IntervalEndsBelowTheFloorAreTheFloorInTheGuideAndItsCsv) {
  // A surface whose bootstrap refits spread E from 0.8 to 1.2 around a known
  // floor of 1.0: the lower ends of the loss intervals far out fall below the
  // floor, and the guide and allocation.csv show them as the floor.
  const SurfaceLaw law{1.05, 400, 900, 0.35, 0.35};
  ReportInput in = report_of(law);
  for (double e : {0.8, 0.9, 1.0, 1.1, 1.2}) {
    SurfaceLaw l = law;
    l.E = e;
    in.boot.laws.push_back(l);
  }
  in.validity.floor = 1.0, in.validity.floor_source = "test";
  testing::TempDir dir;
  write_report(dir / "guide", in);
  int clamped = 0;
  for (const auto& cells : allocation_rows(dir / "guide/allocation.csv")) {
    ASSERT_GE(cells.size(), 14u) << cells[0];
    if (cells[11].empty()) continue;  // refused
    EXPECT_GE(std::stod(cells[12]), 1.0) << cells[0];
    clamped += std::stod(cells[12]) == 1.0;
  }
  EXPECT_GT(clamped, 0);
  EXPECT_NE(testing::read_text(dir / "guide/report.md").find("(floor 1.0000 – "),
            std::string::npos);
}

TEST(Report, BitsPerByteFactorOfTheRunsDataIsStated) {
  // Runs that recorded their data's nats -> bits/byte factor (summary.json
  // nll_to_bpb): the guide says how to read its losses in bits per byte; runs
  // with different factors (or none) get no such line.
  ReportInput in = report_of({1.05, 400, 900, 0.35, 0.35});
  for (auto& p : in.points) p.extra["nll_to_bpb"] = "0.34124";
  testing::TempDir dir;
  write_report(dir / "guide", in);
  EXPECT_NE(testing::read_text(dir / "guide/report.md").find("× 0.34124 gives bits per byte"),
            std::string::npos);
  in.points[0].extra["nll_to_bpb"] = "0.5";
  write_report(dir / "mixed", in);
  EXPECT_EQ(testing::read_text(dir / "mixed/report.md").find("gives bits per byte"),
            std::string::npos);
}

TEST(AnalyzeCli, RunsOfAKnownWorldGiveItsLawAndNoLossBelowItsFloor) {
  // Eight sizes trained at constant LR on a world whose loss is
  // L(N, D) = 1 + 400/N^0.35 + 900/D^0.35, every curve to 1e13 FLOPs
  // (6·N·D), the floor 1.0 recorded as a synthetic source's.
  const SurfaceLaw world{1.0, 400, 900, 0.35, 0.35};
  testing::TempDir dir;
  int i = 0;
  for (double n : {1e4, 2e4, 4e4, 8e4, 1.6e5, 3.2e5, 6.4e5, 1.28e6}) {
    const int steps = static_cast<int>(1e13 / (6 * n * 2048));
    write_curve_run(dir / "runs", "r" + std::to_string(i++), n, 2048, 6 * n, steps, "constant",
                    [&](double step) { return world.predict(n, step * 2048); });
  }
  auto r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "runs", "--flops", "md",
                                 "--bootstrap", "100", "--out", dir / "guide"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("method: IsoFLOP budgets read off 8 constant-LR training curves"),
            std::string::npos)
      << r.output;
  EXPECT_NE(r.output.find("known floor: 1.0000"), std::string::npos) << r.output;
  // The surface with E held at the floor is reported beside the free one; on
  // this world (E = floor) it finds the same exponents.
  const size_t held = r.output.find("held there: alpha ");
  ASSERT_NE(held, std::string::npos) << r.output;
  EXPECT_NEAR(std::stod(r.output.substr(held + 18)), 0.35, 0.03) << r.output.substr(held, 120);
  EXPECT_EQ(r.output.find("refused"), std::string::npos) << r.output;  // every budget has a vertex
  auto fit = nlohmann::json::parse(testing::read_text(dir / "guide/fit.json"));
  EXPECT_NEAR(fit["approach3"]["E"].get<double>(), 1.0, 0.02);
  EXPECT_NEAR(fit["approach3"]["alpha"].get<double>(), 0.35, 0.03);
  EXPECT_NEAR(fit["approach3"]["beta"].get<double>(), 0.35, 0.03);
  EXPECT_DOUBLE_EQ(fit["known_floor"].get<double>(), 1.0);
  EXPECT_NEAR(fit["approach2"]["n_opt"]["exponent"].get<double>(), 0.5, 0.02);
  // allocation.csv: every printed loss and interval end at or above the floor;
  // refused rows leave the loss empty and say why.
  auto printed_rows = [](const std::string& path, double floor) {
    int printed = 0;
    for (const auto& cells : allocation_rows(path)) {
      EXPECT_GE(cells.size(), 17u) << cells[0];
      if (cells.size() < 17) continue;
      if (cells[11].empty()) {
        EXPECT_NE(cells[16].find("below the known floor"), std::string::npos) << cells[0];
        // No prediction interval either; the batch, LR and steps stay (they
        // do not depend on the loss).
        for (size_t c : {17, 18}) EXPECT_TRUE(cells.at(c).empty()) << cells[0];
        EXPECT_EQ(cells.size(), 24u) << cells[0];
      } else {
        EXPECT_EQ(cells.size(), 24u) << cells[0];
        if (cells.size() < 24) continue;
        // The law's loss, its interval, and the prediction interval for one run.
        for (int c : {11, 12, 13, 17, 18}) EXPECT_GE(std::stod(cells[c]), floor) << cells[0];
        // (as wide as the law's or wider; equal to rounding on this noise-free world)
        EXPECT_LE(std::stod(cells[17]), std::stod(cells[12]) * 1.001) << cells[0];
        EXPECT_GE(std::stod(cells[18]), std::stod(cells[13]) * 0.999) << cells[0];
        ++printed;
      }
    }
    return printed;
  };
  EXPECT_GT(printed_rows(dir / "guide/allocation.csv", 1.0), 3);
  // The guide states the floor and the method, and how the law moves under
  // other choices of the fit.
  const std::string md = testing::read_text(dir / "guide/report.md");
  EXPECT_NE(md.find("Robustness (Approach 3 refitted"), std::string::npos);
  ASSERT_EQ(fit["robustness"].size(), 5u);
  EXPECT_FALSE(fit["surface_e_undetermined"].get<bool>());
  // The refit on the later half of each run's readings finds the same world
  // (its curves have no transient), so E is determined and the guide says so.
  EXPECT_EQ(fit["robustness"][3]["variant"], "only the later half of each run's curve readings");
  EXPECT_NEAR(fit["robustness"][3]["E"].get<double>(), 1.0, 0.02);
  EXPECT_EQ(md.find("do not determine"), std::string::npos) << md;
  EXPECT_NE(md.find("Known floor: 1.0000"), std::string::npos);
  EXPECT_NE(md.find("at budgets read off the training curves"), std::string::npos);

  // A stated floor above the world's: the surface's losses below it are refused.
  r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "runs", "--flops", "md", "--bootstrap",
                            "100", "--floor", "1.3", "--out", dir / "floor"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("below the known floor 1.3000 (given with --floor)"), std::string::npos)
      << r.output;
  EXPECT_GT(printed_rows(dir / "floor/allocation.csv", 1.3), 0);
  // E held at the floor.
  r = testing::run_process(
      {SCALEBED_ANALYZE_PATH, dir / "runs", "--flops", "md", "--bootstrap", "100", "--fix-floor"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("E        1.0000  [1.0000, 1.0000]  (held at the floor"),
            std::string::npos)
      << r.output;
  // Size as FLOPs per token (M = 6N here): M_opt is 6 N_opt.
  r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "runs", "--flops", "md", "--bootstrap",
                            "100", "--size", "m", "--predict", "1e13"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("C = 1*M*D"), std::string::npos) << r.output;
  EXPECT_NEAR(std::stod(r.output.substr(r.output.find("M_opt ") + 6)), 6 * world.n_opt(1e13),
              0.1 * 6 * world.n_opt(1e13))
      << r.output;
  // The held-out curves (evaluated every 50 steps) give the same law.
  r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "runs", "--flops", "md", "--bootstrap",
                            "100", "--curve", "val", "--out", dir / "val"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("training curves (smoothed held-out loss"), std::string::npos)
      << r.output;
  auto val_fit = nlohmann::json::parse(testing::read_text(dir / "val/fit.json"));
  EXPECT_NEAR(val_fit["approach3"]["E"].get<double>(), 1.0, 0.02);
  EXPECT_NEAR(val_fit["approach3"]["alpha"].get<double>(), 0.35, 0.03);
  r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "runs", "--max-extrapolation", "-1"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("--max-extrapolation must be >= 0"), std::string::npos) << r.output;
  // Final losses instead: one point per run, grouped by FLOPs (all at 1e13).
  r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "runs", "--flops", "md", "--bootstrap",
                            "100", "--budgets", "final"});
  EXPECT_NE(r.output.find("method: final losses, one point per run"), std::string::npos)
      << r.output;
  r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "runs", "--curve-points", "6"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.output.find("replaced by --budgets"), std::string::npos) << r.output;
  r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "runs", "--budgets", "1e9:1e10:3"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no run's curve passes any budget"), std::string::npos) << r.output;
  r = testing::run_process({SCALEBED_ANALYZE_PATH, kChinchilla, "--fix-floor"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--fix-floor needs a floor"), std::string::npos) << r.output;
}

TEST(Isoflop, RecoversThePapersMaskedLawAlongTheCurvesOfItsSweep) {
  // The runs of sweeps/sweep_diffusion.yaml (the five paper sizes; batches of
  // 8 to 1,024 sequences of 2,048 tokens with their LR grids; 2,000 warm-up
  // steps; each run until 1e20 FLOPs or 80k steps), each logging the paper's
  // masked-diffusion surface L = 222·M^-0.292 + 1920·D^-0.367 + 2.17 along its
  // curve every 20 steps. Read at the budgets of the paper's fits (20 from
  // 5e17 to 2e20, its notebook's range) with M as the size, the IsoFLOP laws
  // must come out as the paper's: L* = 27.22·C^-0.0496 and M* ∝ C^0.566.
  const SurfaceLaw paper{2.17, 222, 1920, 0.292, 0.367};
  const std::vector<std::pair<int, int>> sizes = {
      {8, 512}, {10, 640}, {12, 768}, {16, 1024}, {20, 1536}};
  const std::vector<std::pair<int, std::vector<double>>> batches = {
      {8, {0.1, 0.2, 0.3}},   {16, {0.2, 0.3, 0.5}}, {32, {0.2, 0.3, 0.5}},  {64, {0.3, 0.5, 1.0}},
      {128, {0.3, 0.5, 1.0}}, {256, {0.5, 1.0}},     {512, {0.5, 1.0, 2.0}}, {1024, {1.0, 2.0}}};
  std::vector<RunCurve> curves;
  for (const auto& [layers, d] : sizes) {
    const double m = 72.0 * layers * d * d + 12.0 * layers * d * 2048;  // M, FLOPs per token
    for (const auto& [batch, lrs] : batches) {
      const double batch_tokens = batch * 2048.0;
      const double steps = std::min(std::floor(1e20 / m / batch_tokens), 80000.0);
      for (double lr : lrs) {
        RunCurve c;
        c.final.params = 12.0 * layers * d * d;
        c.final.extra = {{"batch_tokens", std::to_string(batch_tokens)},
                         {"base_lr", std::to_string(lr)}};
        c.flops_per_token = m, c.batch_tokens = batch_tokens;
        c.schedule = "constant", c.warmup_steps = 2000, c.last_step = steps;
        for (double s = 20; s <= steps; s += 20) {
          c.steps.push_back(s);
          c.loss.push_back(paper.predict(m, s * batch_tokens));
        }
        c.smooth = smooth_curve(c.steps, c.loss);
        curves.push_back(std::move(c));
      }
    }
  }
  auto points =
      best_per_budget_and_size(points_at_budgets(curves, budget_grid("5e17:2e20:20", curves)));
  for (auto& p : points) p.params = p.flops / p.tokens;  // analyze --size m
  const IsoflopResult r = fit_isoflop(points);
  ASSERT_TRUE(r.fitted) << r.note;
  int accepted = 0;
  for (const auto& p : r.profiles) accepted += p.accepted;
  EXPECT_GE(accepted, 12);
  EXPECT_NEAR(r.loss_opt.k / 27.22, 1.0, 0.03) << r.loss_opt.k;
  EXPECT_NEAR(r.loss_opt.exponent, -0.0496, 0.002);
  // M*: the paper measured 0.566 on its runs; on its own noise-free surface
  // the vertices give 0.554 and the surface's exact optimum is β/(α+β) = 0.557.
  EXPECT_NEAR(r.n_opt.exponent, 0.566, 0.015);
  EXPECT_NEAR(r.n_opt.exponent, paper.n_exponent(), 0.005);
  EXPECT_NEAR(r.n_opt.exponent + r.d_opt.exponent, 1.0, 1e-9);  // C = M·D
}

}  // namespace
}  // namespace scalebed::analysis
