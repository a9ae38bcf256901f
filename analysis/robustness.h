// How much the Approach-3 law depends on choices a reader could have made
// differently (Besiroglu et al. 2024 on Chinchilla's fit): the Huber δ, the
// highest-loss points (often the smallest or least-trained runs), the early
// readings of training curves (where warm-up and optimisation transients
// rather than size and data set the loss), and the start grid of the
// multi-start search. Each variant refits the surface from
// scratch; the guide reports what moves and by how much, beside the bootstrap
// interval, so a reader sees whether a choice matters more than the data's own
// noise.
#pragma once

#include <string>
#include <vector>

#include "points.h"
#include "surface_fit.h"

namespace scalebed::analysis {

struct RobustnessVariant {
  std::string name;
  bool allocatable = false;
  std::string note;  // why the variant has no allocation, when it has none
  SurfaceLaw law;
  double n_exponent = 0;   // N_opt ∝ C^a
  double loss_at_top = 0;  // its compute-optimal loss at the largest fitted budget
};

struct RobustnessCheck {
  double top_flops = 0;                    // the largest fitted budget
  double n_exponent = 0, loss_at_top = 0;  // the reported fit's
  double E = 0;                            // the reported fit's
  std::vector<RobustnessVariant> variants;
  // Largest |change| against the reported fit over the allocatable variants.
  double max_n_exponent_shift = 0, max_loss_shift = 0;  // loss: relative
  // E over every variant (allocatable or not): an E that moves past its
  // bootstrap interval (by more than 1% of E) is not determined by the points,
  // whatever the interval says.
  double min_E = 0, max_E = 0;
};

// Refits `points` with δ ÷ 10 and × 10, without the max(1, n/20) highest
// losses, with only the later half of each run's readings (points read off
// training curves: curve_step at or above the geometric mean of the first and
// last step read from that run; kept_later_half), and from the start grid
// shifted by half a step in every coordinate; `fit` is the reported fit with
// options `o`.
RobustnessCheck check_robustness(const std::vector<Point>& points, const SurfaceFit& fit,
                                 const SurfaceFitOptions& o, double top_flops);

// Whether the refits move E past its bootstrap interval `E_ci` (by more than
// 1% of E): then the points do not determine E, and the surface's losses are
// not extrapolated far (Validity::surface_e_undetermined).
bool e_undetermined(const RobustnessCheck& r, const Interval& E_ci);

// The points read in the later half (in log step) of their run's readings;
// points without curve_step (final losses) are kept.
std::vector<Point> kept_later_half(const std::vector<Point>& points);

// One paragraph for the console and the guide.
std::string describe_robustness(const RobustnessCheck& r, const Interval& n_exponent_ci,
                                const Interval& E_ci, const std::string& size_symbol);

}  // namespace scalebed::analysis
