// Chinchilla Approach 2 (analysis.md): IsoFLOP profiles. Points are grouped
// into FLOP budgets; per budget, log loss vs log N is fitted with a parabola
// whose vertex is the compute-optimal size. A budget is refused, with its reason,
// when it has fewer than `min_points` points, the parabola opens downwards,
// or the vertex lies outside the sampled sizes (no interior minimum). The
// accepted vertices give N_opt ∝ C^a, D_opt = C/(6·N_opt) and L_opt(C).
// Report it beside Approach 3: wide or off-centre grids bias the vertex.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "points.h"

namespace scalebed::analysis {

struct IsoflopProfile {
  double flops = 0;  // the budget (geometric mean of the group)
  int points = 0;
  bool accepted = false;
  std::string refusal;                 // why not, when refused
  double log_n_opt = 0;                // vertex (natural log of N)
  double loss_opt = 0;                 // parabola value at the vertex
  double curvature = 0;                // second-order coefficient in log N
  double c0 = 0, c1 = 0;               // log loss ≈ c0 + c1·log N + curvature·log² N
  std::vector<double> params, losses;  // the budget's points
  double parabola(double n) const {    // the fitted loss at size n
    const double x = std::log(n);
    return std::exp(c0 + c1 * x + curvature * x * x);
  }
};

struct PowerLaw {  // y = k·x^exponent, fitted in log-log space
  double k = 0, exponent = 0, r2 = 0;
  double at(double x) const;
};

// Least squares in log-log space (x, y > 0).
PowerLaw fit_power_law(const std::vector<double>& x, const std::vector<double>& y);

struct IsoflopResult {
  std::vector<IsoflopProfile> profiles;
  PowerLaw n_opt, d_opt, loss_opt;  // against C; valid when fitted
  bool fitted = false;              // at least two accepted budgets
  std::string note;                 // why the laws were not fitted
};

struct IsoflopOptions {
  double group_tolerance = 0.05;  // points within this many decades of FLOPs form a budget
  int min_points = 3;
};

// Whether every point was read off a training curve at a budget of a grid
// (budgets.h: extra "budget").
bool read_off_curves(const std::vector<Point>& points);

// Groups points into budgets: by their exact budget when read off curves;
// otherwise (final losses of runs of fixed length) sorted by log10 C, a new
// group starts where the gap to the previous point exceeds group_tolerance,
// and a group spanning more than kBudgetSpanFactor × group_tolerance decades
// (neighbours chained across budgets) is split at its widest gaps.
constexpr double kBudgetSpanFactor = 4;
std::vector<std::vector<Point>> group_by_budget(std::vector<Point> points, double tolerance);

IsoflopResult fit_isoflop(const std::vector<Point>& points, const IsoflopOptions& o = {});

// Bootstrap of the Approach-2 laws: points resampled with replacement within
// each budget (so the budgets stay), parabolas and laws refitted; resamples
// that lose a law are skipped (and counted).
struct IsoflopBootstrap {
  std::vector<PowerLaw> n_opt, loss_opt;  // one per usable resample
  int skipped = 0;
  double n_exponent_low = 0, n_exponent_high = 0, loss_exponent_low = 0, loss_exponent_high = 0;
  // Percentile interval of L_opt(C) over the resampled laws.
  std::pair<double, double> loss_interval(double flops, double level = 0.95) const;
};
IsoflopBootstrap bootstrap_isoflop(const std::vector<Point>& points, const IsoflopOptions& o,
                                   int resamples, uint64_t seed, double level = 0.95);

}  // namespace scalebed::analysis
