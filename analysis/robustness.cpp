// Refits of the surface under other reasonable choices of the fit.
#include "robustness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace scalebed::analysis {

RobustnessCheck check_robustness(const std::vector<Point>& points, const SurfaceFit& fit,
                                 const SurfaceFitOptions& o, double top_flops) {
  RobustnessCheck r;
  r.top_flops = top_flops;
  r.n_exponent = fit.law.n_exponent();
  r.loss_at_top = fit.law.predict(fit.law.n_opt(top_flops), fit.law.d_opt(top_flops));
  // Another δ or fewer points: refitted from every basin the full search
  // found (its optima, not one start); another start grid: a new search.
  auto run = [&](const std::string& name, const std::vector<Point>& pts,
                 const SurfaceFitOptions& opts, bool new_search) {
    RobustnessVariant v;
    v.name = name;
    SurfaceFit f = new_search || fit.basins.empty() ? fit_surface(pts, opts)
                                                    : refit_from_basins(pts, fit.basins, opts);
    f.law.k = fit.law.k;  // the same FLOP convention as the reported fit
    f.law.unidentified = surface_terms_unidentified(pts);
    v.law = f.law;
    v.allocatable = f.law.allocatable(&v.note);
    if (v.allocatable) {
      v.n_exponent = f.law.n_exponent();
      v.loss_at_top = f.law.predict(f.law.n_opt(top_flops), f.law.d_opt(top_flops));
      r.max_n_exponent_shift =
          std::max(r.max_n_exponent_shift, std::fabs(v.n_exponent - r.n_exponent));
      r.max_loss_shift = std::max(r.max_loss_shift, std::fabs(v.loss_at_top / r.loss_at_top - 1));
    }
    r.variants.push_back(v);
  };
  for (double factor : {0.1, 10.0}) {
    SurfaceFitOptions d = o;
    d.huber_delta = o.huber_delta * factor;
    char name[64];
    std::snprintf(name, sizeof name, "Huber delta %g", d.huber_delta);
    run(name, points, d, false);
  }
  const size_t drop = std::max<size_t>(1, points.size() / 20);
  if (points.size() - drop >= kMinSurfacePoints) {
    std::vector<Point> kept = points;
    std::sort(kept.begin(), kept.end(),
              [](const Point& a, const Point& b) { return a.loss < b.loss; });
    kept.resize(kept.size() - drop);
    run("without the " + std::to_string(drop) + " highest losses", kept, o, false);
  }
  SurfaceFitOptions shifted = o;
  auto shift = [](std::vector<double>& grid) {
    const double step = grid.size() > 1 ? grid[1] - grid[0] : 1.0;
    for (double& g : grid) g += step / 2;
  };
  shift(shifted.alpha_grid), shift(shifted.beta_grid), shift(shifted.e_grid), shift(shifted.a_grid),
      shift(shifted.b_grid);
  run("start grid shifted by half a step", points, shifted, true);
  return r;
}

std::string describe_robustness(const RobustnessCheck& r, const Interval& n_exponent_ci,
                                const std::string& size_symbol) {
  char buf[512];
  int allocatable = 0;
  std::string refused;
  for (const auto& v : r.variants) {
    if (v.allocatable) {
      ++allocatable;
    } else {
      refused += "; " + v.name + ": no allocation (" + v.note + ")";
    }
  }
  const double width = n_exponent_ci.high - n_exponent_ci.low;
  std::snprintf(buf, sizeof buf,
                "Robustness (Approach 3 refitted with other Huber deltas and without the "
                "highest losses, from every basin the full search found, and searched again "
                "from a shifted start grid; %d of %zu give an allocation): the %s_opt "
                "exponent moves by at most %.4f (its bootstrap interval is %.4f wide: the choice "
                "matters %s than the data's noise), the compute-optimal loss at C %.3g by at "
                "most %.2f%%",
                allocatable, r.variants.size(), size_symbol.c_str(), r.max_n_exponent_shift, width,
                r.max_n_exponent_shift > width / 2 ? "about as much as or more" : "less",
                r.top_flops, 100 * r.max_loss_shift);
  return buf + refused + ".";
}

}  // namespace scalebed::analysis
