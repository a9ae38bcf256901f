// Held-out validation of the laws (Epoch's replication; Gadre et al. 2024,
// "Language models scale reliably with over-training"): fit again without the
// largest budget and predict it, so that a reader sees how well a law holds
// one budget beyond the data it was fitted on, measured rather than assumed.
#pragma once

#include <string>

#include "isoflop.h"
#include "points.h"
#include "surface_fit.h"

namespace scalebed::analysis {

struct HoldoutCheck {
  bool done = false;
  std::string note;       // why it was not done, when it was not
  double held_flops = 0;  // the held-out budget (geometric mean of its points' FLOPs)
  double fitted_max = 0;  // the largest FLOPs of the points fitted without it
  int held_points = 0, fitted_points = 0;
  // Approach 3 refitted without the budget, on the budget's points:
  // (predicted − observed) / observed, mean of |·|, the largest |·|, the mean
  // with its sign (a law that is too optimistic is negative).
  double surface_mean_abs = 0, surface_max_abs = 0, surface_bias = 0;
  // Approach 2 refitted without its largest profile budget (isoflop_held_flops,
  // which can differ from held_flops when that budget made no profile): L_opt
  // there against the budget's own parabola vertex, when both exist.
  double isoflop_held_flops = 0, isoflop_loss_error = 0;
  bool isoflop_compared = false;
};

// Leaves out the largest budget (group_by_budget's last group) of `points`,
// refits Approach 3 on the rest and predicts it; likewise Approach 2 on
// `profile_points` (the budgets that make IsoFLOP profiles). Needs three
// budgets or more and a surface the remaining points determine.
// The surface is refitted from `start` (the full-data optimum), as each
// bootstrap refit is: one L-BFGS run instead of the 4,500-start search.
HoldoutCheck holdout_largest_budget(const std::vector<Point>& points,
                                    const std::vector<Point>& profile_points,
                                    const SurfaceLaw& start, const SurfaceFitOptions& fit,
                                    const IsoflopOptions& iso);

// The check in words, for the console and the guide (one paragraph).
std::string describe_holdout(const HoldoutCheck& h, const std::string& size_symbol);

}  // namespace scalebed::analysis
