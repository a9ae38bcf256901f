// Per-run loss curves (analysis.md): smooth a run's logged losses with an
// exponential moving average (γ ≈ 0.96, bias-corrected) and fit
//   L(S) = C + B·S^−b
// to the steps after warm-up, so that a constant-LR run yields a loss at any
// budget up to its length: one run, many (tokens, loss) points.
#pragma once

#include <vector>

namespace scalebed::analysis {

struct CurveLaw {
  double C = 0, B = 0, b = 0;
  double at(double step) const;
};

// Bias-corrected EMA of a series.
std::vector<double> ema(const std::vector<double>& values, double gamma = 0.96);

// Least squares in log loss over (steps, losses); all steps > 0.
CurveLaw fit_curve(const std::vector<double>& steps, const std::vector<double>& losses);

}  // namespace scalebed::analysis
