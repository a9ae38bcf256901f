// What the analysis may print as a predicted loss. One home for the rules
// every table, scenario and comparison follows:
//   - never below a known floor (the synthetic sources' exact optimal loss,
//     or a floor the user states with --floor): such a prediction is refused
//     and the reason printed instead;
//   - a power law without an irreducible term (Approach 1's and 2's
//     L = k·C^e) is not a law many decades away: its losses stop
//     `max_decades` beyond the fitted FLOPs (N_opt and D_opt are still given);
//     so do a surface's whose E the points do not determine (the robustness
//     refits move it past its bootstrap interval): where its losses go far
//     away depends on E;
//   - every row says how many decades beyond the fitted range it lies.
#pragma once

#include <string>
#include <vector>

#include "points.h"

namespace scalebed::analysis {

struct Validity {
  double floor = 0;                     // known irreducible loss; 0 when none is known
  std::string floor_source;             // where it comes from, for the guide
  double max_decades = 2;               // extrapolation limit of floor-free power laws
  bool surface_e_undetermined = false;  // Approach 3's E: see robustness.h e_undetermined
  double c_min = 0, c_max = 0;          // fitted FLOPs

  // 0 inside [c_min, c_max], else the distance to it in decades.
  double decades_beyond(double flops) const;
  // Empty when `loss`, predicted at `flops` by a law that has (or lacks) an
  // irreducible term (true: Approach 3's surface), may be printed; otherwise
  // why not.
  std::string refusal(double flops, double loss, bool law_has_floor) const;
  // "2.31" or "—" with the refusal in `notes`; `decimals` digits.
  std::string cell(double flops, double loss, bool law_has_floor, std::vector<std::string>* notes,
                   int decimals = 4) const;
  // A value that cannot lie below the floor (an interval end): at least the floor.
  double at_least_floor(double v) const { return floor > 0 && v < floor ? floor : v; }
  // "low – high", with a low end below the floor shown as the floor (the
  // bootstrap's spread says the law is uncertain, not that the loss can go there).
  std::string interval(double low, double high, int decimals = 4) const;
  // "in range", "+1.3 dec", "−0.5 dec".
  std::string where(double flops) const;
};

// The floor the points carry: the median of their "optimal_loss" extras when
// every point has one (run directories of a synthetic source), else 0.
double known_floor(const std::vector<Point>& points);

}  // namespace scalebed::analysis
