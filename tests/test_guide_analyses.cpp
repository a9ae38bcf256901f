// The guide's further analyses against known worlds: hyperparameter laws
// (the optimal batch and LR of a sweep built on the diffusion paper's B*(D)
// and eta*(B)), the comparison of objectives (crossings, ratio intervals,
// reference files, floors that differ) and the sensitivity ranking.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "analysis_test_util.h"
#include "compare.h"
#include "doc.h"
#include "hyperparams.h"
#include "report.h"
#include "seed_weights.h"
#include "sensitivity.h"
#include "surface_fit.h"
#include "test_util.h"

namespace scalebed::analysis {
namespace {

// Runs of a known world: loss(D, B, η) = 2 + 40·D^-0.25 + 0.05·ln²(B/B*(D))
// + 0.03·ln²(η/η*(B)) with the paper's B*(D) = 10^-2.4·D^0.8225 tokens and
// η*(B) = 0.001·B^0.34; each run logs its curve at log-spaced token counts.
std::vector<Point> hyperparameter_world() {
  std::vector<Point> points;
  int id = 0;
  for (double params : {1e7, 3e7}) {
    for (int e = 20; e <= 40; ++e) {  // batches 2^10 … 2^20, half-octave steps
      const double batch = std::pow(2.0, e / 2.0);
      const double lr_opt = 0.001 * std::pow(batch, 0.34);
      for (double f : {0.25, 0.5, 1.0, 2.0, 4.0}) {
        const std::string name = "run" + std::to_string(id++);
        for (int k = 0; k <= 40; ++k) {
          const double tokens = std::pow(10.0, 6 + 4.0 * k / 40);
          const double b_opt = std::pow(10.0, -2.4) * std::pow(tokens, 0.8225);
          Point p;
          p.params = params;
          p.tokens = tokens;
          p.loss = 2 + 40 * std::pow(tokens, -0.25) + 0.05 * std::pow(std::log(batch / b_opt), 2) +
                   0.03 * std::pow(std::log(f), 2);
          p.flops = 6 * params * tokens;
          p.extra = {{"name", name},
                     {"batch_tokens", std::to_string(batch)},
                     {"base_lr", std::to_string(lr_opt * f)}};
          points.push_back(p);
        }
      }
    }
  }
  return points;
}

TEST(HyperparameterLaws, RecoverTheOptimalBatchAndLearningRateOfAKnownWorld) {
  const auto laws = fit_hyperparameter_laws(hyperparameter_world(), 200, 3);
  ASSERT_TRUE(laws.batch_varied && laws.lr_varied);
  ASSERT_TRUE(laws.batch_vs_tokens.fitted) << laws.batch_vs_tokens.note;
  EXPECT_GE(laws.batch_vs_tokens.optima.size(), 6u);
  // Vertices of tokens-to-target over log B lie on B*(D): exponent 0.8225.
  EXPECT_NEAR(laws.batch_vs_tokens.law.exponent, 0.8225, 0.03);
  EXPECT_NEAR(std::log10(laws.batch_vs_tokens.law.k), -2.4, 0.3);
  EXPECT_TRUE(laws.batch_vs_tokens.exponent_ci.contains(laws.batch_vs_tokens.law.exponent));
  // The loss is exactly quadratic in ln η: the LR law comes back exactly.
  ASSERT_TRUE(laws.lr_vs_batch.fitted) << laws.lr_vs_batch.note;
  EXPECT_EQ(laws.lr_vs_batch.optima.size(), 2u * 21u);
  EXPECT_NEAR(laws.lr_vs_batch.law.exponent, 0.34, 1e-3);
  EXPECT_NEAR(laws.lr_vs_batch.law.k, 0.001, 1e-5);
  EXPECT_EQ(laws.lr_vs_batch.refused, 0);
}

TEST(HyperparameterLaws, ThePublishedLawsAreDrawnBesideTheSweepsInTheGuide) {
  // The known world's B* and η* laws in a guide beside the paper's published
  // ones (analysis/references/diffusion_paper.json): the B* law with its
  // coefficient, the η* slope without one (drawn through this sweep's law).
  ReportInput in = report_of({1.05, 400, 900, 0.35, 0.35});
  in.hyper = fit_hyperparameter_laws(hyperparameter_world(), 100, 3);
  ASSERT_TRUE(in.hyper.batch_vs_tokens.fitted && in.hyper.lr_vs_batch.fitted);
  for (const auto& h : read_reference_hyperparameters(
           std::string(SCALEBED_SOURCE_DIR) + "/analysis/references/diffusion_paper.json")) {
    if (h.group.empty()) in.reference_hyper.push_back(h);  // the all-noise-types laws
  }
  testing::TempDir dir;
  write_report(dir / "guide", in);
  const std::string batch = testing::read_text(dir / "guide/batch_opt.svg");
  EXPECT_NE(batch.find(">ref B* (paper, all noise types)<"), std::string::npos) << batch;
  EXPECT_EQ(batch.find("eta*"), std::string::npos);  // an LR law is not a batch law
  const std::string lr = testing::read_text(dir / "guide/lr_opt.svg");
  EXPECT_NE(lr.find(">ref eta* slope (paper, all noise types) (slope only)<"), std::string::npos)
      << lr;
  EXPECT_NE(testing::read_text(dir / "guide/report.md").find("Dashed: published laws"),
            std::string::npos);
}

TEST(HyperparameterLaws, RunsOfOneSettingAndSeveralLengthsJoinIntoOneCurve) {
  // The known world again, but as a sweep over lengths would log it with
  // --curve-points: each setting (batch, LR) is three runs of 1e7, 1e8 and
  // 1e9 tokens, each with points only over the last three quarters of
  // its length. Joined, they cover 2.5e6-1e9 tokens and B*(D) comes back.
  std::vector<Point> points;
  for (const Point& p : hyperparameter_world()) {
    for (double length : {1e7, 1e8, 1e9}) {
      if (p.tokens < length / 4 * 0.999 || p.tokens > length * 1.001) continue;
      Point q = p;
      q.extra["name"] = p.extra.at("name") + "_D" + std::to_string(length);
      points.push_back(q);
    }
  }
  const auto laws = fit_hyperparameter_laws(points, 200, 3);
  ASSERT_TRUE(laws.batch_vs_tokens.fitted) << laws.batch_vs_tokens.note;
  double d_min = 1e300, d_max = 0;
  for (const auto& o : laws.batch_vs_tokens.optima) {
    d_min = std::min(d_min, o.x), d_max = std::max(d_max, o.x);
  }
  EXPECT_GT(d_max / d_min, 30) << "the vertices span " << d_min << " to " << d_max << " tokens";
  EXPECT_NEAR(laws.batch_vs_tokens.law.exponent, 0.8225, 0.05);
}

TEST(HyperparameterLaws, SeedsOfOneSettingAreAveragedNotRacedAgainstEachOther) {
  // The known world under two seeds whose losses sit δ(B) above and below
  // it, δ larger for smaller batches (noisier updates): δ = 0.02·ln(2^20/B).
  // Averaged over the seeds (mean log tokens to each target), the batch law
  // is the one-seed world's. Joined into one curve per setting, the seeds'
  // points interleaved and the lucky seed reached each target first: B*
  // came out 1.8x too small.
  const auto one_seed = fit_hyperparameter_laws(hyperparameter_world(), 200, 3);
  ASSERT_TRUE(one_seed.batch_vs_tokens.fitted) << one_seed.batch_vs_tokens.note;
  for (double scale : {0.0, 0.02}) {
    std::vector<Point> points;
    for (const Point& p : hyperparameter_world()) {
      const double batch = std::stod(p.extra.at("batch_tokens"));
      const double delta = scale * std::log(std::pow(2.0, 20) / batch);
      for (int s : {0, 1}) {
        Point q = p;
        q.loss += s == 0 ? delta : -delta;
        q.extra["name"] = p.extra.at("name") + "_seed" + std::to_string(s);
        q.extra["seed"] = std::to_string(s);
        points.push_back(q);
      }
    }
    const auto laws = fit_hyperparameter_laws(points, 200, 3);
    ASSERT_TRUE(laws.batch_vs_tokens.fitted) << laws.batch_vs_tokens.note;
    EXPECT_NEAR(laws.batch_vs_tokens.law.exponent, one_seed.batch_vs_tokens.law.exponent, 0.01)
        << "seed offsets " << scale;
    EXPECT_NEAR(std::log10(laws.batch_vs_tokens.law.k), std::log10(one_seed.batch_vs_tokens.law.k),
                0.05)
        << "seed offsets " << scale;
  }
}

TEST(HyperparameterLaws, LearningRateParabolasCompareRunsOfOneLengthOnly) {
  // A sweep over batch, LR and length: loss = 2 + 40·D^-0.25 + 0.03·ln²(η/η*(D))
  // with η*(D) = 3·D^-0.1. Runs of 1e8 tokens end far above runs of 1e10 at
  // any LR; one parabola over both would find no interior minimum.
  std::vector<Point> points;
  int id = 0;
  for (double batch : {4096.0, 8192.0, 16384.0}) {
    for (double length : {1e8, 1e9, 1e10}) {
      for (double f : {0.25, 0.5, 1.0, 2.0, 4.0}) {
        const std::string name = "run" + std::to_string(id++);
        const double lr = 3 * std::pow(length, -0.1) * f;
        for (int k = 0; k <= 10; ++k) {
          Point p;
          p.params = 1e7;
          p.tokens = length * std::pow(10.0, -1.0 + k / 10.0);
          p.loss = 2 + 40 * std::pow(p.tokens, -0.25) + 0.03 * std::pow(std::log(f), 2);
          p.flops = 6 * p.params * p.tokens;
          p.extra = {{"name", name},
                     {"batch_tokens", std::to_string(batch)},
                     {"base_lr", std::to_string(lr)}};
          points.push_back(p);
        }
      }
    }
  }
  const auto laws = fit_hyperparameter_laws(points, 100, 3);
  ASSERT_TRUE(laws.lr_vs_tokens.fitted) << laws.lr_vs_tokens.note;
  EXPECT_EQ(laws.lr_vs_tokens.optima.size(), 9u);  // 3 batches x 3 lengths
  EXPECT_EQ(laws.lr_vs_tokens.refused, 0);
  EXPECT_NEAR(laws.lr_vs_tokens.law.exponent, -0.1, 1e-3);
  EXPECT_NEAR(laws.lr_vs_tokens.law.k, 3, 0.01);
}

TEST(HyperparameterLaws, SayWhyWhenTheSweepDoesNotVaryThem) {
  auto points = hyperparameter_world();
  for (auto& p : points) p.extra["base_lr"] = "0.5", p.extra["batch_tokens"] = "1024";
  const auto laws = fit_hyperparameter_laws(points, 10, 3);
  EXPECT_FALSE(laws.batch_vs_tokens.fitted);
  EXPECT_NE(laws.batch_vs_tokens.note.find("batch was not varied"), std::string::npos);
  EXPECT_FALSE(laws.lr_vs_batch.fitted);
  EXPECT_NE(laws.lr_vs_batch.note.find("LR was not varied"), std::string::npos);
}

TEST(Compare, CrossingOfTwoKnownLawsAndReferenceFiles) {
  // L_a = 30·C^-0.05 and L_b = 40·C^-0.06 meet where C^0.01 = 4/3.
  GroupLaws a, b;
  a.name = "a", b.name = "b";
  a.isoflop.fitted = b.isoflop.fitted = true;
  a.isoflop.loss_opt = {30, -0.05, 1};
  b.isoflop.loss_opt = {40, -0.06, 1};
  a.c_min = b.c_min = 1e10, a.c_max = b.c_max = 1e12;
  const auto crossings = find_crossings({a, b}, 1e8, 1e20);
  ASSERT_EQ(crossings.size(), 1u);
  EXPECT_NEAR(std::log(crossings[0].flops), 100 * std::log(4.0 / 3.0), 1e-6);
  EXPECT_TRUE(find_crossings({a, b}, 1e8, 1e11).empty());
  // Paired bootstrap refits give the ratio an interval around its estimate.
  for (double scale : {0.98, 0.99, 1.0, 1.01, 1.02}) {
    a.loss_opt_boot.push_back({30 * scale, -0.05, 1});
    b.loss_opt_boot.push_back({40 / scale, -0.06, 1});
  }
  const Interval ratio = ratio_interval(b, a, 1e11);
  const double estimate = b.optimal_loss(1e11) / a.optimal_loss(1e11);
  EXPECT_LT(ratio.low, estimate);
  EXPECT_GT(ratio.high, estimate);
  EXPECT_NEAR(ratio.high / ratio.low, (1.02 / 0.98) * (1.02 / 0.98), 0.01);

  testing::TempDir dir;
  testing::write_text(dir / "ref.json",
                      R"({"laws": [{"name": "p", "loss_opt": {"k": 27.22, "exponent": -0.0496}},
                                   {"name": "s", "surface": {"E": 2.17, "A": 222, "alpha": 0.292,
                                    "B": 1920, "beta": 0.367, "k": 1}}]})");
  const auto refs = read_reference_laws(dir / "ref.json");
  ASSERT_EQ(refs.size(), 2u);
  EXPECT_NEAR(refs[0].optimal_loss(1e18), 27.22 * std::pow(1e18, -0.0496), 1e-12);
  // The surface's optimum under C = M·D is its constrained minimum.
  const SurfaceLaw& s = *refs[1].surface;
  const double c = 1e20, m = s.n_opt(c);
  EXPECT_NEAR(m * s.d_opt(c), c, c * 1e-9);
  EXPECT_LT(refs[1].optimal_loss(c), s.predict(m * 1.1, c / (m * 1.1)));
  EXPECT_LT(refs[1].optimal_loss(c), s.predict(m / 1.1, c / (m / 1.1)));
  testing::write_text(dir / "bad.json", R"({"laws": [{"name": "x", "loss_opt": {"k": 1}}]})");
  try {
    read_reference_laws(dir / "bad.json");
    FAIL() << "no error";
  } catch (const AnalysisError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.json: laws[0]"), std::string::npos) << e.what();
  }

  write_comparison(dir / "cmp", "objective", {a, b}, refs);
  const std::string md = testing::read_text(dir / "cmp/comparison.md");
  EXPECT_NE(md.find("a and b cross at 3.12e+12 FLOPs (extrapolated)"), std::string::npos) << md;
  EXPECT_NE(md.find("| FLOPs | range | L* a | L* b | b / a | ref p | ref s |"), std::string::npos)
      << md;

  // Different known floors (AR and diffusion score different tokens): the
  // comparison says by how much, and adds the ratio of reducible losses.
  a.validity.floor = 0.5, b.validity.floor = 0.56;
  write_comparison(dir / "floors", "objective", {a, b}, {});
  const std::string with_floors = testing::read_text(dir / "floors/comparison.md");
  EXPECT_NE(with_floors.find("The floors differ by 0.0600 nats/token (12.0% of the lowest)"),
            std::string::npos)
      << with_floors;
  EXPECT_NE(with_floors.find("| b / a | (b − floor) / (a − floor) |"), std::string::npos)
      << with_floors;
  const double c11 = 1e11;
  const std::string expected =
      fmt("%.4f", (b.optimal_loss(c11) - 0.56) / (a.optimal_loss(c11) - 0.5));
  EXPECT_NE(with_floors.find(expected), std::string::npos) << expected << "\n" << with_floors;
  // The reducible ratio carries its interval from the same paired refits...
  const Interval reducible = ratio_interval(b, a, c11, 0.56, 0.5);
  const double reducible_estimate = (b.optimal_loss(c11) - 0.56) / (a.optimal_loss(c11) - 0.5);
  EXPECT_LT(reducible.low, reducible_estimate);
  EXPECT_GT(reducible.high, reducible_estimate);
  EXPECT_NE(with_floors.find(expected + " (" + fmt("%.3f", reducible.low) + " – " +
                             fmt("%.3f", reducible.high) + ")"),
            std::string::npos)
      << with_floors;
  // ...which has no upper end when refits leave the base nothing above its
  // floor (here one refit in five: a floor just under a's law).
  const double near_a = a.optimal_loss(c11) * 0.995;
  const Interval unbounded = ratio_interval(b, a, c11, 0.56, near_a);
  EXPECT_TRUE(std::isinf(unbounded.high)) << unbounded.high;
  EXPECT_GT(unbounded.low, 0);
}

Point seed_row(double n, double d, double loss, const std::string& seed) {
  Point p;
  p.params = n, p.tokens = d, p.flops = 6 * n * d, p.loss = loss;
  if (!seed.empty()) p.extra["seed"] = seed;
  return p;
}

TEST(SeedWeights, NoisySettingsWeighLessThanQuietOnesAndRepeatsAreNotSeeds) {
  // Setting a: three seeds scattering 10% in loss; setting b: three seeds
  // within 1%; setting c: one row. Weights are 1/variance of log loss,
  // shrunk towards the pooled variance with 2 pseudo-degrees of freedom,
  // scaled to mean 1.
  std::vector<Point> points = {seed_row(1e6, 1e9, 2.0, "1"),   seed_row(1e6, 1e9, 2.2, "2"),
                               seed_row(1e6, 1e9, 1.8, "3"),   seed_row(1e7, 1e9, 1.50, "1"),
                               seed_row(1e7, 1e9, 1.515, "2"), seed_row(1e7, 1e9, 1.485, "3"),
                               seed_row(1e8, 1e9, 1.2, "")};
  const SeedWeights w = apply_seed_weights(points);
  ASSERT_TRUE(w.applied);
  EXPECT_EQ(w.settings_with_seeds, 2);
  auto log_var = [&](size_t first) {
    double m = 0, ss = 0;
    for (size_t i = first; i < first + 3; ++i) m += std::log(points[i].loss) / 3;
    for (size_t i = first; i < first + 3; ++i) ss += std::pow(std::log(points[i].loss) - m, 2);
    return ss;
  };
  const double ss_a = log_var(0), ss_b = log_var(3), pooled = (ss_a + ss_b) / 4;
  const double var_a = (ss_a + 2 * pooled) / 4, var_b = (ss_b + 2 * pooled) / 4;
  EXPECT_NEAR(points[0].weight / points[3].weight, var_b / var_a, 1e-9);
  EXPECT_NEAR(points[6].weight / points[3].weight, var_b / pooled, 1e-9);
  EXPECT_NEAR(w.pooled_sd, std::sqrt(pooled), 1e-12);
  double total = 0;
  for (const auto& p : points) total += p.weight;
  EXPECT_NEAR(total / points.size(), 1.0, 1e-12);
  // A point already averaged over its seeds (read off curves) counts as the
  // mean of `seeds` draws: with the same spread, 4 seeds weigh twice 2.
  std::vector<Point> averaged = {seed_row(1e6, 1e9, 2.0, ""), seed_row(1e7, 1e9, 1.5, "")};
  averaged[0].extra = {{"budget", "1e16"}, {"seeds", "2"}, {"seed_log_var", "0.001"}};
  averaged[1].extra = {{"budget", "1e16"}, {"seeds", "4"}, {"seed_log_var", "0.001"}};
  ASSERT_TRUE(apply_seed_weights(averaged).applied);
  EXPECT_NEAR(averaged[1].weight / averaged[0].weight, 2.0, 1e-9);
  // Rows repeated without a seed (or with the same seed) are not seeds.
  std::vector<Point> repeated = {seed_row(1e6, 1e9, 2.0, ""), seed_row(1e6, 1e9, 2.1, ""),
                                 seed_row(1e7, 1e9, 1.5, "1"), seed_row(1e7, 1e9, 1.6, "1")};
  EXPECT_FALSE(apply_seed_weights(repeated).applied);
  for (const auto& p : repeated) EXPECT_EQ(p.weight, 1.0);
}

TEST(SeedWeights, TheWeightedSurfaceIsNearerTheTruthWhenSomeSettingsAreNoisy) {
  // A known law; every setting run with three seeds; the settings of every
  // other size scatter 15% from seed to seed, the rest 0.5%. Weighting by
  // seed spread lets the quiet settings carry the fit: its exponents land
  // nearer the truth than the unweighted fit's, and within 0.02.
  const SurfaceLaw truth{2.0, 400.0, 1500.0, 0.33, 0.30};
  std::mt19937_64 rng(21);
  std::normal_distribution<double> unit(0.0, 1.0);
  std::vector<Point> points;
  int size_index = 0;
  for (double n = 1e7; n <= 3e9; n *= 1.8, ++size_index) {
    const double noise = size_index % 2 ? 0.15 : 0.005;
    for (double d = 1e9; d <= 3e11; d *= 1.8) {
      for (int seed = 0; seed < 3; ++seed) {
        points.push_back(seed_row(n, d, truth.predict(n, d) * std::exp(noise * unit(rng)),
                                  std::to_string(seed)));
      }
    }
  }
  const SurfaceFit unweighted = fit_surface(points);
  ASSERT_TRUE(apply_seed_weights(points).applied);
  const SurfaceFit weighted = fit_surface(points);
  const double err_w = std::abs(weighted.law.alpha - truth.alpha) +
                       std::abs(weighted.law.beta - truth.beta),
               err_u = std::abs(unweighted.law.alpha - truth.alpha) +
                       std::abs(unweighted.law.beta - truth.beta);
  EXPECT_LT(err_w, err_u) << "weighted alpha " << weighted.law.alpha << " beta "
                          << weighted.law.beta << "; unweighted " << unweighted.law.alpha << " "
                          << unweighted.law.beta;
  EXPECT_LT(err_w, 0.02);
}

TEST(References, ThePapersPublishedFitsWithRangesPointsAndSources) {
  // analysis/references/diffusion_paper.json against the numbers the spec
  // quotes (shared/spec/analysis.md): L* masked 27.22·C^-0.0496, uniform
  // 31.26·C^-0.0522; the masked surface a 222, α 0.292, b 1.92e3, β 0.367,
  // E 2.17; M* exponents 0.566 (masked) and 0.589 (uniform), D* 0.434 and
  // 0.411. Every entry says where its numbers come from and the FLOPs it
  // was fitted on; values outside them are marked in the comparison.
  const std::string path =
      std::string(SCALEBED_SOURCE_DIR) + "/analysis/references/diffusion_paper.json";
  const auto refs = read_reference_laws(path);
  ASSERT_EQ(refs.size(), 10u);
  std::map<std::string, const ReferenceLaw*> by_name;
  for (const auto& r : refs) {
    by_name[r.name] = &r;
    EXPECT_FALSE(r.cite.empty()) << r.name;
    EXPECT_EQ(r.range_lo, 5e17) << r.name;
    EXPECT_EQ(r.range_hi, 2e20) << r.name;
  }
  for (const char* noise : {"masked", "low-uniform", "balanced", "high-uniform", "uniform"}) {
    ASSERT_TRUE(by_name.count(std::string(noise) + " (paper)")) << noise;
    ASSERT_TRUE(by_name.count(std::string(noise) + " surface (paper)")) << noise;
    const ReferenceLaw& law = *by_name[std::string(noise) + " (paper)"];
    EXPECT_EQ(law.group, std::string("diffusion-") + noise);
    ASSERT_TRUE(law.loss_opt && law.m_opt && law.tokens_opt && law.params_opt) << noise;
    // M*·D* = C under M·D FLOPs: the exponents add to 1 (to the table's rounding).
    EXPECT_NEAR(law.m_opt->exponent + law.tokens_opt->exponent, 1.0, 1e-4) << noise;
  }
  const ReferenceLaw& masked = *by_name["masked (paper)"];
  EXPECT_NEAR(masked.loss_opt->k, 27.22, 0.005);
  EXPECT_NEAR(masked.loss_opt->exponent, -0.0496, 5e-5);
  EXPECT_NEAR(masked.m_opt->exponent, 0.566, 5e-4);
  EXPECT_NEAR(masked.tokens_opt->exponent, 0.434, 5e-4);
  const ReferenceLaw& uniform = *by_name["uniform (paper)"];
  EXPECT_NEAR(uniform.loss_opt->k, 31.26, 0.005);
  EXPECT_NEAR(uniform.loss_opt->exponent, -0.0522, 5e-5);
  EXPECT_NEAR(uniform.m_opt->exponent, 0.589, 5e-4);
  EXPECT_NEAR(uniform.tokens_opt->exponent, 0.411, 5e-4);
  const SurfaceLaw& s = *by_name["masked surface (paper)"]->surface;
  EXPECT_EQ(s.A, 222);
  EXPECT_EQ(s.alpha, 0.292);
  EXPECT_EQ(s.B, 1920);
  EXPECT_EQ(s.beta, 0.367);
  EXPECT_EQ(s.E, 2.17);
  EXPECT_EQ(s.k, 1);
  // The 3B and 10B runs.
  ASSERT_EQ(masked.points.size(), 1u);
  EXPECT_EQ(masked.points[0].loss, 2.422);
  ASSERT_EQ(uniform.points.size(), 2u);
  EXPECT_EQ(uniform.points[1].flops, 1e22);
  EXPECT_EQ(uniform.points[1].loss, 2.214);
  EXPECT_TRUE(masked.outside_range(1e21));
  EXPECT_FALSE(masked.outside_range(1e19));
  // Hyperparameter laws: the batch law the allocation table borrows.
  const auto hyper = read_reference_hyperparameters(path);
  ASSERT_EQ(hyper.size(), 7u);
  EXPECT_NEAR(hyper[0].k, std::pow(10.0, kPaperBatchLawLog10K), 1e-12);
  EXPECT_EQ(hyper[0].exponent, kPaperBatchLawExponent);
  EXPECT_EQ(kPaperBatchLawLog10K, -2.4);
  EXPECT_EQ(kPaperBatchLawExponent, 0.8225);
  for (const auto& h : hyper) EXPECT_FALSE(h.cite.empty()) << h.name;

  // The comparison marks reference values outside their fitted FLOPs.
  GroupLaws g;
  g.name = "diffusion-masked";
  g.c_min = 1e18, g.c_max = 1e20;
  g.isoflop.fitted = true;
  g.isoflop.loss_opt = {27.0, -0.05, 1};
  testing::TempDir dir;
  write_comparison(dir / "cmp", "noise", {g}, {masked}, hyper);
  const std::string md = testing::read_text(dir / "cmp/comparison.md");
  EXPECT_NE(md.find("| 1e+19 | in range | "), std::string::npos) << md;
  const std::string row19 = md.substr(md.find("| 1e+19 |"), 60);
  EXPECT_EQ(row19.find("†"), std::string::npos) << row19;
  const std::string row21 = md.substr(md.find("| 1e+21 |"), 80);
  EXPECT_NE(row21.find("†"), std::string::npos) << row21;
  EXPECT_NE(md.find("3B run: 2.422 at 1e+21 FLOPs"), std::string::npos);
  EXPECT_NE(md.find("reference B* (paper, all noise types)"), std::string::npos);

  // For runs with a decaying LR: every reference loss over the paper's
  // cooldown factor 1.0245 (analyze --reference-cooldown).
  ReferenceLaw cooled = masked, cooled_surface = *by_name["masked surface (paper)"];
  with_cooldown(cooled);
  with_cooldown(cooled_surface);
  for (double c : {1e18, 1e20}) {
    EXPECT_NEAR(cooled.optimal_loss(c), masked.optimal_loss(c) / 1.0245, 1e-12);
    EXPECT_NEAR(cooled_surface.optimal_loss(c),
                by_name["masked surface (paper)"]->optimal_loss(c) / 1.0245, 1e-9);
  }
  EXPECT_NEAR(cooled.points[0].loss, 2.422 / 1.0245, 1e-12);
  EXPECT_NE(cooled.name.find("cooldown"), std::string::npos);
}

TEST(Recipe, BatchLrAndStepsFromTheSweepsLawsElseLabelledBorrowedOrAbsent) {
  // With fitted laws: B* = 0.01·D^0.8 at D = 1e10 is 1e6 tokens, η* = 1e-3·B^0.34
  // at that batch, and D / B* steps.
  HyperparameterLaws fitted;
  fitted.batch_vs_tokens.fitted = true;
  fitted.batch_vs_tokens.law = {0.01, 0.8, 1.0};
  fitted.lr_vs_batch.fitted = true;
  fitted.lr_vs_batch.law = {1e-3, 0.34, 1.0};
  const Recipe r = recipe_for(fitted, {}, 1e10);
  EXPECT_NEAR(r.batch_tokens, 1e6, 1e-3);
  EXPECT_NEAR(r.lr, 1e-3 * std::pow(1e6, 0.34), 1e-12);
  EXPECT_NEAR(r.steps, 1e4, 1e-6);
  EXPECT_EQ(r.batch_source.rfind("fitted here", 0), 0u);
  EXPECT_EQ(r.lr_source.rfind("fitted here", 0), 0u);
  // Without: the paper's published batch law, labelled borrowed; the sweep's
  // one LR, labelled as not a law; with two LRs and no law, none.
  std::vector<Point> one_lr(2);
  one_lr[0].extra["base_lr"] = one_lr[1].extra["base_lr"] = "0.5";
  const Recipe b = recipe_for(HyperparameterLaws{}, one_lr, 1e10);
  EXPECT_NEAR(b.batch_tokens, std::pow(10.0, -2.4) * std::pow(1e10, 0.8225), 1e-6);
  EXPECT_NE(b.batch_source.find("borrowed"), std::string::npos);
  EXPECT_EQ(b.lr, 0.5);
  EXPECT_NE(b.lr_source.find("not a law"), std::string::npos);
  one_lr[1].extra["base_lr"] = "0.25";
  const Recipe none = recipe_for(HyperparameterLaws{}, one_lr, 1e10);
  EXPECT_EQ(none.lr, 0);
  EXPECT_EQ(none.lr_source.rfind("none", 0), 0u);
}

TEST(Sensitivity, RanksTheChoicesOfAKnownSweep) {
  // loss = 2 + 0.5·[N = 1e6] + 0.3·[D = 1e8] + 0.1·[B = 2e4] + 0.05·[η = 0.2]
  std::vector<Point> points;
  for (double n : {1e6, 1e7})
    for (double d : {1e8, 1e9})
      for (double b : {1e4, 2e4})
        for (double lr : {0.1, 0.2}) {
          Point p;
          p.params = n, p.tokens = d, p.flops = 6 * n * d;
          p.loss = 2 + 0.5 * (n == 1e6) + 0.3 * (d == 1e8) + 0.1 * (b == 2e4) + 0.05 * (lr == 0.2);
          p.extra = {{"batch_tokens", std::to_string(b)}, {"base_lr", std::to_string(lr)}};
          points.push_back(p);
        }
  const auto s = sensitivity(points);
  // Every choice at equal compute: size at the shared budget 6e15 (1e6 x 1e9
  // vs 1e7 x 1e8): 2.5 vs 2.3 = 0.2; batch: 0.1; LR: 0.05. Tokens at a fixed
  // size (0.3 here, but between runs of different compute) is not ranked.
  ASSERT_EQ(s.size(), 3u);
  EXPECT_EQ(s[0].choice, "size");
  EXPECT_NEAR(s[0].median_spread, 0.2, 1e-12);
  EXPECT_EQ(s[0].groups, 1);
  EXPECT_EQ(s[1].choice, "batch");
  EXPECT_NEAR(s[1].median_spread, 0.1, 1e-12);
  EXPECT_EQ(s[2].choice, "LR");
  EXPECT_NEAR(s[2].median_spread, 0.05, 1e-12);
  // Without batch and LR columns only size is ranked.
  for (auto& p : points) p.extra.clear();
  ASSERT_EQ(sensitivity(points).size(), 1u);
  EXPECT_EQ(sensitivity(points)[0].choice, "size");
}

}  // namespace
}  // namespace scalebed::analysis
