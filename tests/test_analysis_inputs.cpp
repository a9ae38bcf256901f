// Inputs `analyze` must question rather than answer: too few bootstrap
// resamples, a surface the points cannot determine, duplicated rows, FLOPs in
// the wrong unit, invalid losses in run directories, out-of-range flags, a
// byte-order mark, and IsoFLOP budgets chained across a decade. Each test
// compares the tool's answer against what the input can support.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <string>
#include <vector>

#include "analysis_test_util.h"
#include "isoflop.h"
#include "points.h"
#include "runs.h"
#include "surface_fit.h"

namespace scalebed::analysis {
namespace {

// Chinchilla's surface (Epoch's fit) evaluated exactly at (n, d).
double chinchilla_loss(double n, double d) {
  return 1.817 + 482.0 / std::pow(n, 0.348) + 2085.4 / std::pow(d, 0.366);
}

std::string csv_of(const std::vector<std::pair<double, double>>& sizes_and_tokens,
                   double flops_factor = 6) {
  std::string csv = "params,tokens,loss,flops\n";
  char line[160];
  for (const auto& [n, d] : sizes_and_tokens) {
    std::snprintf(line, sizeof line, "%.6g,%.6g,%.8g,%.6g\n", n, d, chinchilla_loss(n, d),
                  flops_factor * n * d);
    csv += line;
  }
  return csv;
}

// A 4 x 4 grid of sizes and token counts (16 points, every budget different).
std::vector<std::pair<double, double>> grid() {
  std::vector<std::pair<double, double>> out;
  for (double n : {1e8, 3e8, 1e9, 3e9})
    for (double d : {3e9, 1e10, 3e10, 1e11}) out.push_back({n, d});
  return out;
}

TEST(AnalyzeInputs, BootstrapCountsTooSmallForA95PercentIntervalAreRefused) {
  // --bootstrap 0 crashed (an empty sample's percentile) and 1 printed an
  // interval that excluded the estimate.
  for (const char* count : {"0", "1", "99"}) {
    auto r = testing::run_process({SCALEBED_ANALYZE_PATH, kChinchilla, "--bootstrap", count});
    EXPECT_EQ(r.exit_code, 2) << count << "\n" << r.output;
    EXPECT_NE(r.output.find("--bootstrap: expected an integer in [100, 1000000]"),
              std::string::npos)
        << r.output;
  }
}

TEST(AnalyzeInputs, PointsOnOneBudgetCannotDetermineTheSurface) {
  // Five sizes on one IsoFLOP budget: N·D is fixed, so A/N^alpha and B/D^beta
  // are functions of one variable. The fit used to interpolate them exactly,
  // print zero-width intervals and extrapolate to 1e25.
  std::vector<Point> one_budget;
  for (double n : {1e8, 2e8, 4e8, 8e8, 1.6e9}) {
    Point p;
    p.params = n, p.tokens = 1e19 / (6 * n), p.flops = 1e19;
    p.loss = chinchilla_loss(p.params, p.tokens);
    one_budget.push_back(p);
  }
  // Nine points stay below the ten that five coefficients need.
  std::vector<Point> too_few;
  for (double n : {1e8, 1e9, 1e10})
    for (double d : {1e9, 1e10, 1e11}) {
      Point p;
      p.params = n, p.tokens = d, p.flops = 6 * n * d, p.loss = chinchilla_loss(n, d);
      too_few.push_back(p);
    }
  EXPECT_NE(surface_terms_unidentified(too_few).find("residual degrees of freedom"),
            std::string::npos);
  std::vector<Point> enough = too_few;
  enough.push_back(too_few[0]);
  enough.back().tokens = 3e10, enough.back().loss = chinchilla_loss(1e8, 3e10);
  EXPECT_EQ(surface_terms_unidentified(enough), "");  // ten points, three sizes and token counts

  // Five budgets' worth of points across sizes is determined; one budget is not.
  std::vector<Point> repeated;  // one budget with each point twice: still one line
  for (const auto& p : one_budget) repeated.push_back(p), repeated.push_back(p);
  EXPECT_NE(surface_terms_unidentified(repeated).find("one line in (log N, log D)"),
            std::string::npos)
      << surface_terms_unidentified(repeated);

  testing::TempDir dir;
  std::vector<std::pair<double, double>> rows;
  for (const auto& p : repeated) rows.push_back({p.params, p.tokens});
  testing::write_text(dir / "one_budget.csv", csv_of(rows));
  auto r = testing::run_process(
      {SCALEBED_ANALYZE_PATH, dir / "one_budget.csv", "--bootstrap", "100", "--predict", "1e25"});
  EXPECT_NE(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("no allocation: the points lie on one line in (log N, log D)"),
            std::string::npos)
      << r.output;
}

TEST(AnalyzeInputs, TheFitWindowLeavesOutHighLossesAndLargeBatchesAndSaysSo) {
  // --max-loss and --max-batch-tokens (the diffusion paper's fit window: loss
  // below 4, batch below 1024 sequences): points outside are left out before
  // any fit, and the report says how many.
  testing::TempDir dir;
  std::string csv = "params,tokens,loss,batch_tokens\n";
  int high = 0, large = 0, total = 0;
  for (double n : {1e6, 3e6, 1e7, 3e7, 1e8}) {
    for (double d : {1e9, 3e9, 1e10, 3e10}) {
      for (double b : {2.6e5, 2.1e6}) {
        const double loss = 1.8 + 400 / std::pow(n, 0.34) + 150 / std::pow(d, 0.28);
        csv += std::to_string(n) + "," + std::to_string(d) + "," + std::to_string(loss) + "," +
               std::to_string(b) + "\n";
        ++total;
        high += loss >= 4;
        large += b > 1048576 && loss < 4;
      }
    }
  }
  ASSERT_GT(high, 0);
  testing::write_text(dir / "p.csv", csv);
  auto r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "p.csv", "--bootstrap", "100",
                                 "--max-loss", "4", "--max-batch-tokens", "1048576"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string said = "window: loss < 4, batch <= 1048576 tokens (" +
                           std::to_string(high + large) + " of " + std::to_string(total) +
                           " points left out)";
  EXPECT_NE(r.output.find(said), std::string::npos) << said << "\n" << r.output;
  EXPECT_NE(r.output.find("points: " + std::to_string(total - high - large) + " from"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(
      testing::run_process({SCALEBED_ANALYZE_PATH, dir / "p.csv", "--max-loss", "0"}).exit_code, 2);
}

TEST(AnalyzeInputs, DuplicatedRowsAreCountedAndWarnedAbout) {
  testing::TempDir dir;
  auto rows = grid();
  testing::write_text(dir / "clean.csv", csv_of(rows));
  rows.push_back(rows[3]), rows.push_back(rows[3]), rows.push_back(rows[7]);
  testing::write_text(dir / "dup.csv", csv_of(rows));
  auto r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "dup.csv", "--bootstrap", "100"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("warning: 3 of 19 points duplicate another point exactly"),
            std::string::npos)
      << r.output;
  r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "clean.csv", "--bootstrap", "100"});
  EXPECT_EQ(r.output.find("duplicate"), std::string::npos) << r.output;
}

TEST(AnalyzeInputs, FlopsInTheWrongUnitAreQuestioned) {
  // A flops column 1000x too large gave k = 6000 FLOPs per parameter and token
  // without a word.
  testing::TempDir dir;
  testing::write_text(dir / "kilo.csv", csv_of(grid(), 6000));
  auto r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "kilo.csv", "--bootstrap", "100"});
  EXPECT_NE(r.output.find("warning: the FLOPs are 6000 per parameter and token"), std::string::npos)
      << r.output;
  testing::write_text(dir / "right.csv", csv_of(grid(), 6));
  r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "right.csv", "--bootstrap", "100"});
  EXPECT_EQ(r.output.find("per parameter and token ("), std::string::npos) << r.output;
}

TEST(AnalyzeInputs, RunDirectoriesAndCsvFilesShareOneValidation) {
  // A negative final_val_loss in a run directory was accepted while the same
  // value in a CSV was refused.
  testing::TempDir dir;
  write_run(dir, "a", 1e6, 2e7, 3.1, true);
  write_run(dir, "b", 2e6, 4e7, -2.9, true);
  auto r = testing::run_process({SCALEBED_ANALYZE_PATH, dir.path(), "--bootstrap", "100"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("b/summary.json: loss is -2.9 (must be finite and > 0)"),
            std::string::npos)
      << r.output;
  EXPECT_THROW(read_run_directories(dir.path(), "6nd"), AnalysisError);

  testing::write_text(dir / "nan.csv", "params,tokens,loss\n1e6,1e9,nan\n");
  r = testing::run_process({SCALEBED_ANALYZE_PATH, dir / "nan.csv"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("nan.csv:2: column 'loss': expected a finite positive number"),
            std::string::npos)
      << r.output;
}

TEST(AnalyzeInputs, OutOfRangeFlagsAndAByteOrderMark) {
  auto r = testing::run_process({SCALEBED_ANALYZE_PATH, kChinchilla, "--mfu", "5"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--mfu is a fraction of peak FLOP/s, at most 1"), std::string::npos)
      << r.output;
  r = testing::run_process({SCALEBED_ANALYZE_PATH, kChinchilla, "--isoflop-tolerance", "5"});
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("--isoflop-tolerance must be at most 0.1 decades"), std::string::npos)
      << r.output;

  // Spreadsheets save CSV with a UTF-8 byte-order mark before the header.
  testing::TempDir dir;
  testing::write_text(dir / "bom.csv", "\xEF\xBB\xBF" + csv_of(grid()));
  const auto points = read_points_csv(dir / "bom.csv");
  EXPECT_EQ(points.size(), 16u);
  EXPECT_DOUBLE_EQ(points[0].params, 1e8);
}

TEST(AnalyzeInputs, OutDirIsCheckedBeforeAnyFittingAndEachStageSaysItself) {
  testing::TempDir dir;
  testing::write_text(dir / "file", "not a directory\n");
  const auto started = std::chrono::steady_clock::now();
  auto r = testing::run_process({SCALEBED_ANALYZE_PATH, kChinchilla, "--out", dir / "file/guide"});
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("--out " + dir / "file/guide" + ": cannot write there"),
            std::string::npos)
      << r.output;
  EXPECT_EQ(r.output.find("Approach 3"), std::string::npos) << "fitted before checking";
  EXPECT_LT(seconds, 1.0);
  // A writable --out: each stage says itself on stderr, with the time so far.
  r = testing::run_process(
      {SCALEBED_ANALYZE_PATH, kChinchilla, "--bootstrap", "100", "--out", dir / "guide"});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* stage :
       {"] Approach 3: 245 points, 4,500 starts", "] held-out check", "] writing the guide to "}) {
    EXPECT_NE(r.output.find(stage), std::string::npos) << stage << "\n" << r.output;
  }
  EXPECT_EQ(r.output.find("[analyze 0.0s] Approach 3"), 0u) << r.output;
}

TEST(Isoflop, ChainedNeighboursNeverMakeABudgetWiderThanItsBound) {
  // Final losses 0.04 decades apart from 1e19 to 1e20: the gap rule alone
  // chained all 26 into one "budget" spanning a decade.
  std::vector<Point> points;
  for (int i = 0; i <= 25; ++i) {
    Point p;
    p.flops = std::pow(10.0, 19 + 0.04 * i);
    p.params = 1e8 * (1 + i % 5);
    p.tokens = p.flops / (6 * p.params);
    p.loss = chinchilla_loss(p.params, p.tokens);
    points.push_back(p);
  }
  const auto groups = group_by_budget(points, 0.05);
  ASSERT_GT(groups.size(), 1u);
  size_t total = 0;
  for (const auto& g : groups) {
    total += g.size();
    const double span = std::log10(g.back().flops) - std::log10(g.front().flops);
    EXPECT_LE(span, kBudgetSpanFactor * 0.05 + 1e-12);
  }
  EXPECT_EQ(total, points.size());
  // Points within the tolerance of each other stay one budget.
  std::vector<Point> tight(points.begin(), points.begin() + 3);
  EXPECT_EQ(group_by_budget(tight, 0.05).size(), 1u);
}

}  // namespace
}  // namespace scalebed::analysis
