// Held-out validation: refit without the largest budget, predict it.
#include "holdout.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace scalebed::analysis {

HoldoutCheck holdout_largest_budget(const std::vector<Point>& points,
                                    const std::vector<Point>& profile_points,
                                    const SurfaceLaw& start, const SurfaceFitOptions& fit,
                                    const IsoflopOptions& iso) {
  HoldoutCheck h;
  const auto groups = group_by_budget(points, iso.group_tolerance);
  if (groups.size() < 3) {
    h.note = "needs three budgets or more (the points hold " + std::to_string(groups.size()) + ")";
    return h;
  }
  // The largest budget with at least iso.min_points points, and any stray
  // larger points with it (a lone point is no budget to predict).
  size_t first_held = groups.size() - 1;
  while (first_held > 0 && groups[first_held].size() < static_cast<size_t>(iso.min_points))
    --first_held;
  if (first_held < 2) {
    h.note = "needs two budgets of " + std::to_string(iso.min_points) +
             " points or more below the one held out";
    return h;
  }
  std::vector<Point> held, rest;
  for (size_t g = 0; g < groups.size(); ++g) {
    auto& into = g >= first_held ? held : rest;
    into.insert(into.end(), groups[g].begin(), groups[g].end());
  }
  double log_c = 0;
  for (const auto& p : held) log_c += std::log(p.flops) / held.size();
  h.held_flops = std::exp(log_c);
  for (const auto& p : rest) h.fitted_max = std::max(h.fitted_max, p.flops);
  h.held_points = static_cast<int>(held.size());
  h.fitted_points = static_cast<int>(rest.size());
  if (const std::string why = surface_terms_unidentified(rest); !why.empty()) {
    h.note = "without the largest budget " + why;
    return h;
  }
  const SurfaceFit refit = refit_surface(rest, start, fit);
  double sum_abs = 0, sum = 0;
  for (const auto& p : held) {
    const double e = refit.law.predict(p.params, p.tokens) / p.loss - 1;
    sum_abs += std::abs(e), sum += e;
    h.surface_max_abs = std::max(h.surface_max_abs, std::abs(e));
  }
  h.surface_mean_abs = sum_abs / held.size();
  h.surface_bias = sum / held.size();
  // Approach 2: the law through the other vertices against the largest
  // profile budget's own vertex.
  h.isoflop_loss_error = std::numeric_limits<double>::quiet_NaN();
  const auto profiles = group_by_budget(profile_points, iso.group_tolerance);
  if (profiles.size() >= 3) {
    std::vector<Point> before;
    for (size_t g = 0; g + 1 < profiles.size(); ++g)
      before.insert(before.end(), profiles[g].begin(), profiles[g].end());
    const IsoflopResult without = fit_isoflop(before, iso),
                        only = fit_isoflop(profiles.back(), iso);
    if (without.fitted && !only.profiles.empty() && only.profiles.front().accepted) {
      h.isoflop_held_flops = only.profiles.front().flops;
      h.isoflop_loss_error =
          without.loss_opt.at(h.isoflop_held_flops) / only.profiles.front().loss_opt - 1;
      h.isoflop_compared = true;
    }
  }
  h.done = true;
  return h;
}

std::string describe_holdout(const HoldoutCheck& h, const std::string&) {
  char buf[600];
  if (!h.done) return "Held-out check: not done: " + h.note + ".";
  std::snprintf(buf, sizeof buf,
                "Held-out check (the fits repeated without the largest budget, C %.3g, %d "
                "points, then asked for it; refitted on %.3g FLOPs at most, %d points, so the "
                "budget lies %.2f decades beyond): Approach 3 predicts that budget's losses "
                "within %.1f%% on average "
                "(largest %.1f%%, mean signed %+.1f%%: negative means too optimistic).",
                h.held_flops, h.held_points, h.fitted_max, h.fitted_points,
                std::log10(h.held_flops / h.fitted_max), 100 * h.surface_mean_abs,
                100 * h.surface_max_abs, 100 * h.surface_bias);
  std::string out = buf;
  if (h.isoflop_compared) {
    std::snprintf(buf, sizeof buf,
                  " Approach 2's L_opt, refitted without its largest profile budget (C %.3g), "
                  "misses that budget's own vertex by %+.1f%%.",
                  h.isoflop_held_flops, 100 * h.isoflop_loss_error);
    out += buf;
  }
  return out;
}

}  // namespace scalebed::analysis
