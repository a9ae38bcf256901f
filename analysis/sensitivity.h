// Sensitivity (analysis.md): which choice moves the loss most, read off the
// sweep itself, every choice compared at equal compute. For each choice, the
// spread (max − min) of the loss over its values with everything else held
// fixed, each value at its best over the finer choices:
//   size     at a fixed FLOP budget (an IsoFLOP group: the size/tokens split),
//            best over batch and LR
//   batch    at a fixed size and token count, best over LR
//   LR       at a fixed size, token count and batch
// (More tokens at a fixed size is more compute, not a choice at equal
// compute: it is not ranked.)
// reported as the median and largest spread over the groups where the choice
// took two or more values.
#pragma once

#include <string>
#include <vector>

#include "points.h"

namespace scalebed::analysis {

struct Sensitivity {
  std::string choice;  // size | batch | LR
  int groups = 0;      // groups where it varied
  double median_spread = 0, max_spread = 0;
};

// Sorted by median spread, largest first; choices that never varied are left out.
std::vector<Sensitivity> sensitivity(const std::vector<Point>& points,
                                     double budget_tolerance = 0.05);

}  // namespace scalebed::analysis
