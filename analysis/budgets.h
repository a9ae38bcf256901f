// IsoFLOP budgets read off constant-LR training curves (the diffusion paper's
// method; analysis.md "Per-run curves"). Each (size, batch, LR) is trained
// once at constant LR; a run that has spent C FLOPs is, up to that point, the
// run of a budget C. So on a grid of target budgets every run contributes its
// smoothed loss at each budget its curve passes (after its warm-up), and at
// each (budget, size) the best batch and LR (seeds of one setting averaged)
// is that size's point of the IsoFLOP profile. Budgets are exact: points of
// one budget are never chained with those of a nearby one.
#pragma once

#include <string>
#include <vector>

#include "points.h"
#include "runs.h"

namespace scalebed::analysis {

// The budgets to read: "auto" (8 per decade on the decade grid, from the
// earliest readable point to the end of the longest run), "K/decade", or
// "LO:HI:COUNT" (COUNT
// log-spaced budgets from LO to HI, both included). Throws AnalysisError on a
// malformed spec.
std::vector<double> budget_grid(const std::string& spec, const std::vector<RunCurve>& curves,
                                double min_steps = 0);

// A curve's loss can be read at step s when kWarmupFactor·warm-up ≤ s ≤ its
// last step, s ≥ min_steps (analyze --min-steps), and s is past its second
// logged point (the paper reads its runs after 2.5× their 2,000 warm-up steps).
constexpr double kWarmupFactor = 2.5;
double first_readable_step(const RunCurve& c, double min_steps = 0);

// Every run's smoothed loss at every budget of `budgets` its curve passes:
// a point with tokens = C / flops_per_token, flops = C and extra "budget" (the
// budget as text, the key that groups a profile) and "curve_step". Curves
// are interpolated linearly in log step between logged steps.
std::vector<Point> points_at_budgets(const std::vector<RunCurve>& curves,
                                     const std::vector<double>& budgets, double min_steps = 0);

// The points of the budgets that make IsoFLOP profiles: those where five
// sizes were read (analysis.md: a parabola needs three points, better five;
// every size when the sweep has fewer than five, but at least three). The
// other budgets' points still inform the surface (Approach 3) and the
// frontier (Approach 1). Points without "budget" pass through. `budgets` and
// `dropped` count the budgets kept and left out.
std::vector<Point> profile_budgets(const std::vector<Point>& points, size_t* budgets = nullptr,
                                   size_t* dropped = nullptr);

// Per (budget, size): the point of the best setting (batch, LR), where the
// seeds of one setting count as their mean. Points without "budget" are
// returned unchanged.
std::vector<Point> best_per_budget_and_size(const std::vector<Point>& points);

}  // namespace scalebed::analysis
