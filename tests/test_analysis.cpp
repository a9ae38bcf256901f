// Approach 3 against the published reproduction on Chinchilla's points
// (Epoch AI: E 1.817, A 478, B 2143, α 0.347, β 0.367 after dropping the 5
// highest losses), against synthetic data from a known law (recovery and
// interval coverage), and the objective's gradient against finite differences.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "surface_fit.h"

namespace scalebed::analysis {
namespace {

const std::string kChinchilla =
    std::string(SCALEBED_SHARED_DIR) + "/data/chinchilla_epoch_svg_extracted.csv";

TEST(Points, CsvErrorsNameFileLineAndColumn) {
  auto error_of = [](const std::string& text) {
    const std::string path = ::testing::TempDir() + "/points.csv";
    FILE* f = std::fopen(path.c_str(), "w");
    std::fputs(text.c_str(), f);
    std::fclose(f);
    try {
      read_points_csv(path);
    } catch (const AnalysisError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error_of("params,loss\n1,2\n").find(":1: no 'tokens' column"), std::string::npos);
  EXPECT_NE(error_of("params,tokens,loss\n1,2,3\n4,x,6\n")
                .find(":3: column 'tokens': expected a positive number, got 'x'"),
            std::string::npos);
  EXPECT_NE(error_of("params,tokens,loss\n1,2\n").find(":2: 2 cells"), std::string::npos);
  auto pts = read_points_csv(kChinchilla);
  EXPECT_EQ(pts.size(), 245u);
}

TEST(SurfaceFit, GradientMatchesFiniteDifferences) {
  auto pts = read_points_csv(kChinchilla);
  Eigen::VectorXd t(5), g(5), g2(5);
  t << 6.1, 7.5, 0.6, 0.34, 0.37;
  surface_objective(pts, t, 1e-3, g);
  for (int i = 0; i < 5; ++i) {
    Eigen::VectorXd up = t, down = t;
    up[i] += 1e-7;
    down[i] -= 1e-7;
    const double fd =
        (surface_objective(pts, up, 1e-3, g2) - surface_objective(pts, down, 1e-3, g2)) / 2e-7;
    EXPECT_NEAR(g[i], fd, 1e-5 * std::max(1.0, std::abs(fd))) << i;
  }
}

TEST(SurfaceFit, ReproducesEpochsChinchillaFit) {
  auto pts = drop_highest_losses(read_points_csv(kChinchilla), 5);
  ASSERT_EQ(pts.size(), 240u);
  const SurfaceFit fit = fit_surface(pts);
  EXPECT_EQ(fit.starts, 4500);
  EXPECT_NEAR(fit.law.E, 1.817, 0.01 * 1.817);
  EXPECT_NEAR(fit.law.alpha, 0.347, 0.01 * 0.347);
  EXPECT_NEAR(fit.law.beta, 0.367, 0.01 * 0.367);
  EXPECT_NEAR(fit.law.A, 478, 0.03 * 478);
  EXPECT_NEAR(fit.law.B, 2143, 0.03 * 2143);
  EXPECT_LT(fit.gradient_norm, 1e-6);
  EXPECT_FALSE(fit.optimum_at_grid_edge);
  // Bootstrap intervals around it (Epoch's 95% CI: α 0.317–0.373, β 0.331–0.415).
  const SurfaceBootstrap boot = bootstrap_surface(pts, fit, 200, 7);
  EXPECT_TRUE(boot.alpha.contains(fit.law.alpha));
  EXPECT_TRUE(boot.beta.contains(fit.law.beta));
  EXPECT_GT(boot.alpha.low, 0.28);
  EXPECT_LT(boot.alpha.high, 0.42);
  EXPECT_GT(boot.beta.low, 0.29);
  EXPECT_LT(boot.beta.high, 0.46);
}

TEST(SurfaceFit, RecoversAKnownLawAndIntervalsCoverIt) {
  const SurfaceLaw truth{2.0, 400.0, 1500.0, 0.33, 0.30};
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0.0, 0.01);  // 1% multiplicative noise
  std::vector<Point> pts;
  for (double n = 1e7; n <= 3e9; n *= 1.8) {
    for (double d = 1e9; d <= 3e11; d *= 1.8) {
      Point p;
      p.params = n;
      p.tokens = d;
      p.loss = truth.predict(n, d) * std::exp(noise(rng));
      pts.push_back(p);
    }
  }
  const SurfaceFit fit = fit_surface(pts);
  EXPECT_NEAR(fit.law.alpha, truth.alpha, 0.05);
  EXPECT_NEAR(fit.law.beta, truth.beta, 0.05);
  EXPECT_NEAR(fit.law.E, truth.E, 0.1);
  const SurfaceBootstrap boot = bootstrap_surface(pts, fit, 200, 3);
  EXPECT_TRUE(boot.alpha.contains(truth.alpha)) << boot.alpha.low << " " << boot.alpha.high;
  EXPECT_TRUE(boot.beta.contains(truth.beta)) << boot.beta.low << " " << boot.beta.high;
  EXPECT_TRUE(boot.E.contains(truth.E)) << boot.E.low << " " << boot.E.high;
  EXPECT_TRUE(boot.n_exponent.contains(truth.n_exponent()));
}

TEST(SurfaceLaw, ClosedFormFrontierIsTheConstrainedMinimum) {
  const SurfaceLaw law{1.8, 480, 2100, 0.35, 0.37};
  const double C = 1e21;
  const double n = law.n_opt(C), d = law.d_opt(C);
  EXPECT_NEAR(6 * n * d, C, 1e-6 * C);
  // Moving along 6ND = C in either direction only raises the loss.
  for (double f : {0.8, 1.25}) EXPECT_GT(law.predict(n * f, d / f), law.predict(n, d));
}

}  // namespace
}  // namespace scalebed::analysis
