// Refits of the surface under other reasonable choices of the fit.
#include "robustness.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <utility>

namespace scalebed::analysis {

std::vector<Point> kept_later_half(const std::vector<Point>& points) {
  auto run_of = [](const Point& p) {
    const auto name = p.extra.find("name");
    return name == p.extra.end() ? std::string() : name->second;
  };
  std::map<std::string, std::pair<double, double>> span;  // run -> (first, last) step read
  for (const auto& p : points) {
    const double step = extra_number(p, "curve_step");
    if (step <= 0) continue;
    auto [it, fresh] = span.try_emplace(run_of(p), step, step);
    if (!fresh) it->second = {std::min(it->second.first, step), std::max(it->second.second, step)};
  }
  std::vector<Point> kept;
  for (const auto& p : points) {
    const double step = extra_number(p, "curve_step");
    if (step > 0) {
      const auto& [first, last] = span.at(run_of(p));
      if (step < std::sqrt(first * last) * (1 - 1e-9)) continue;
    }
    kept.push_back(p);
  }
  return kept;
}

RobustnessCheck check_robustness(const std::vector<Point>& points, const SurfaceFit& fit,
                                 const SurfaceFitOptions& o, double top_flops) {
  RobustnessCheck r;
  r.top_flops = top_flops;
  r.n_exponent = fit.law.n_exponent();
  r.loss_at_top = fit.law.predict(fit.law.n_opt(top_flops), fit.law.d_opt(top_flops));
  r.E = r.min_E = r.max_E = fit.law.E;
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
    if (std::isfinite(f.law.E)) {
      r.min_E = std::min(r.min_E, f.law.E);
      r.max_E = std::max(r.max_E, f.law.E);
    }
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
  const std::vector<Point> later = kept_later_half(points);
  if (later.size() < points.size() && later.size() >= kMinSurfacePoints) {
    run("only the later half of each run's curve readings", later, o, false);
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

bool e_undetermined(const RobustnessCheck& r, const Interval& E_ci) {
  if (r.variants.empty()) return false;
  // The bootstrap resamples the points; it cannot see a choice that moves E.
  // Moves within 1% of E past the interval are not counted: on near
  // noise-free points the interval is narrower than what any refit resolves.
  const double slack = 0.01 * std::fabs(r.E);
  return r.min_E < E_ci.low - slack || r.max_E > E_ci.high + slack;
}

std::string describe_robustness(const RobustnessCheck& r, const Interval& n_exponent_ci,
                                const Interval& E_ci, const std::string& size_symbol) {
  char buf[768];
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
                "Robustness (Approach 3 refitted with other Huber deltas, without the "
                "highest losses and, for curves, from the later half of each run's readings, "
                "from every basin the full search found, and searched again from a shifted "
                "start grid; %d of %zu give an allocation): the %s_opt exponent moves by at "
                "most %.4f (its bootstrap interval is %.4f wide: the choice matters %s than the "
                "data's noise), the compute-optimal loss at C %.3g by at most %.2f%%; E lies "
                "between %.4f and %.4f over the refits (%.4f reported, bootstrap interval "
                "%.4f – %.4f)",
                allocatable, r.variants.size(), size_symbol.c_str(), r.max_n_exponent_shift, width,
                r.max_n_exponent_shift > width / 2 ? "about as much as or more" : "less",
                r.top_flops, 100 * r.max_loss_shift, r.min_E, r.max_E, r.E, E_ci.low, E_ci.high);
  std::string text = buf;
  if (e_undetermined(r, E_ci)) {
    text +=
        ": E moves beyond its bootstrap interval, so these points do not determine it to "
        "better than that range; read E as a parameter of the fit, not as a measured "
        "irreducible loss (its losses are then not printed further beyond the fitted FLOPs "
        "than those of a law without one: --max-extrapolation)";
  }
  return text + refused + ".";
}

}  // namespace scalebed::analysis
