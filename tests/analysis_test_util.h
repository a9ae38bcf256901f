// Shared by the analysis tests (test_analysis.cpp, test_curves.cpp,
// test_analysis_inputs.cpp, test_guide_analyses.cpp, test_robustness.cpp): the
// reference data they read, points of a known law on a grid, a small guide
// input and a run-directory writer.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "report.h"
#include "surface_fit.h"
#include "test_util.h"

namespace scalebed::analysis {

// Points of `law` on a log grid of sizes × tokens (ratio `step`), with
// multiplicative noise of relative size `noise` (0: exact).
inline std::vector<Point> grid_points(const SurfaceLaw& law, double n_lo, double n_hi, double d_lo,
                                      double d_hi, double step, double noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> eps(0.0, noise);
  std::vector<Point> pts;
  for (double n = n_lo; n <= n_hi; n *= step) {
    for (double d = d_lo; d <= d_hi; d *= step) {
      Point p;
      p.params = n;
      p.tokens = d;
      p.flops = 6 * n * d;
      p.loss = law.predict(n, d) * (noise > 0 ? std::exp(eps(rng)) : 1.0);
      pts.push_back(p);
    }
  }
  return pts;
}

// A guide's input: 3 x 3 noise-free points of `law` (N 1e5-1e7, D 1e7-1e9)
// and the law as the fit.
inline ReportInput report_of(const SurfaceLaw& law) {
  ReportInput in;
  in.source = "test", in.convention = "6nd";
  for (double n : {1e5, 1e6, 1e7}) {
    for (double d : {1e7, 1e8, 1e9}) {
      Point p;
      p.params = n, p.tokens = d, p.flops = 6 * n * d, p.loss = law.predict(n, d);
      in.points.push_back(p);
    }
  }
  in.fit.law = law;
  in.validity.c_min = 6e12, in.validity.c_max = 6e16;
  return in;
}

// Epoch AI's extraction of Chinchilla's points (../shared/data).
inline const std::string kChinchilla =
    std::string(SCALEBED_SHARED_DIR) + "/data/chinchilla_epoch_svg_extracted.csv";

// A finished (or running) run directory DIR/NAME whose summary.json holds
// one point: n non-embedding parameters, d tokens, final loss `loss`.
inline void write_run(const testing::TempDir& dir, const std::string& name, double n, double d,
                      double loss, bool done) {
  nlohmann::json s = {{"format", 1},
                      {"name", name},
                      {"status", done ? "done" : "running"},
                      {"objective", "diffusion"},
                      {"loss_kind", "elbo"},
                      {"noise", {{"name", "masked"}, {"mixing_shift", -1000}}},
                      {"params", {{"embedding", 1}, {"non_embedding", n}, {"total", n + 1}}},
                      {"tokens", d},
                      {"steps", d / 2048},
                      {"batch_tokens", 2048},
                      {"base_lr", 0.5},
                      {"seed", 3},
                      {"flops", {{"6nd", 6 * n * d}, {"palm", 7 * n * d}, {"md", 6.5 * n * d}}},
                      {"flops_per_token", {{"6nd", 6 * n}, {"palm", 7 * n}, {"md", 6.5 * n}}},
                      {"final_val_loss", loss}};
  testing::write_text(dir / (name + "/summary.json"), s.dump());
  if (done) testing::write_text(dir / (name + "/DONE"), "done\n");
}

}  // namespace scalebed::analysis
