// IsoFLOP parabolas and the power laws through their vertices.
#include "isoflop.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <functional>
#include <random>

#include "surface_fit.h"

namespace scalebed::analysis {

PowerLaw fit_power_law(const std::vector<double>& x, const std::vector<double>& y) {
  const size_t n = x.size();
  Eigen::MatrixXd X(n, 2);
  Eigen::VectorXd Y(n);
  for (size_t i = 0; i < n; ++i) {
    X(i, 0) = 1.0;
    X(i, 1) = std::log(x[i]);
    Y(i) = std::log(y[i]);
  }
  const Eigen::VectorXd c = X.colPivHouseholderQr().solve(Y);
  const Eigen::VectorXd residual = Y - X * c;
  const double ss_tot = (Y.array() - Y.mean()).square().sum();
  PowerLaw p;
  p.k = std::exp(c(0));
  p.exponent = c(1);
  p.r2 = ss_tot > 0 ? 1.0 - residual.squaredNorm() / ss_tot : 1.0;
  return p;
}

bool read_off_curves(const std::vector<Point>& points) {
  return !points.empty() && std::all_of(points.begin(), points.end(),
                                        [](const Point& p) { return p.extra.count("budget") > 0; });
}

double PowerLaw::at(double x) const {
  return k * std::pow(x, exponent);
}

std::vector<std::vector<Point>> group_by_budget(std::vector<Point> points, double tolerance) {
  std::sort(points.begin(), points.end(),
            [](const Point& a, const Point& b) { return a.flops < b.flops; });
  std::vector<std::vector<Point>> groups;
  if (read_off_curves(points)) {  // exact budgets: one group per budget
    for (const Point& p : points) {
      if (groups.empty() || groups.back().back().extra.at("budget") != p.extra.at("budget")) {
        groups.emplace_back();
      }
      groups.back().push_back(p);
    }
    return groups;
  }
  // Split [begin, end) of the sorted points into groups: at every gap wider
  // than the tolerance, then a group still too wide at its widest gap.
  const double max_span = kBudgetSpanFactor * tolerance;
  auto lc = [&](size_t i) { return std::log10(points[i].flops); };
  std::function<void(size_t, size_t)> split = [&](size_t begin, size_t end) {
    size_t widest = begin + 1;
    for (size_t i = begin + 1; i < end; ++i) {
      if (lc(i) - lc(i - 1) > lc(widest) - lc(widest - 1)) widest = i;
    }
    const bool gap = end - begin > 1 && lc(widest) - lc(widest - 1) > tolerance;
    if (end - begin > 1 && (gap || lc(end - 1) - lc(begin) > max_span)) {
      split(begin, widest);
      split(widest, end);
      return;
    }
    groups.emplace_back(points.begin() + begin, points.begin() + end);
  };
  if (!points.empty()) split(0, points.size());
  return groups;
}

namespace {

// One budget's points as the parabola reads them.
struct BudgetRows {
  std::vector<double> log_c, log_n, log_l;
  explicit BudgetRows(const std::vector<Point>& group) {
    for (const auto& p : group) {
      log_c.push_back(std::log(p.flops));
      log_n.push_back(std::log(p.params));
      log_l.push_back(std::log(p.loss));
    }
  }
};

// The profile of one budget through the rows `take` of its points (every
// row, or a bootstrap resample's draw).
IsoflopProfile fit_profile(const BudgetRows& g, const std::vector<size_t>& take, int min_points) {
  IsoflopProfile prof;
  prof.points = static_cast<int>(take.size());
  double log_c = 0;
  for (size_t i : take) log_c += g.log_c[i];
  prof.flops = std::exp(log_c / take.size());
  if (prof.points < min_points) {
    prof.refusal =
        "only " + std::to_string(prof.points) + " points (need " + std::to_string(min_points) + ")";
    return prof;
  }
  // Least-squares parabola log L = c0 + c1·x + c2·x², x = log N (in log loss,
  // as the diffusion paper fits its profiles).
  Eigen::MatrixXd X(take.size(), 3);
  Eigen::VectorXd Y(take.size());
  double x_min = 1e300, x_max = -1e300;
  for (size_t r = 0; r < take.size(); ++r) {
    const double x = g.log_n[take[r]];
    X(r, 0) = 1.0;
    X(r, 1) = x;
    X(r, 2) = x * x;
    Y(r) = g.log_l[take[r]];
    x_min = std::min(x_min, x);
    x_max = std::max(x_max, x);
  }
  const Eigen::VectorXd c = X.colPivHouseholderQr().solve(Y);
  prof.curvature = c(2);
  prof.c0 = c(0);
  prof.c1 = c(1);
  if (c(2) <= 0) {
    prof.refusal = "the parabola opens downwards (no minimum)";
    return prof;
  }
  prof.log_n_opt = -c(1) / (2 * c(2));
  prof.loss_opt = std::exp(c(0) + c(1) * prof.log_n_opt + c(2) * prof.log_n_opt * prof.log_n_opt);
  if (prof.log_n_opt <= x_min || prof.log_n_opt >= x_max) {
    prof.refusal = "no interior minimum: the vertex lies outside the sampled sizes";
    return prof;
  }
  prof.accepted = true;
  return prof;
}

// The power laws through the accepted vertices (k: D_opt = C / (k·N_opt)).
void fit_vertex_laws(IsoflopResult& result, double k) {
  std::vector<double> budgets, n_opts, d_opts, l_opts;
  for (const auto& prof : result.profiles) {
    if (!prof.accepted) continue;
    budgets.push_back(prof.flops);
    n_opts.push_back(std::exp(prof.log_n_opt));
    d_opts.push_back(prof.flops / (k * std::exp(prof.log_n_opt)));
    l_opts.push_back(prof.loss_opt);
  }
  if (budgets.size() < 2) {
    result.note = "fewer than two budgets with an interior minimum: no IsoFLOP laws";
    return;
  }
  result.n_opt = fit_power_law(budgets, n_opts);
  result.d_opt = fit_power_law(budgets, d_opts);
  result.loss_opt = fit_power_law(budgets, l_opts);
  result.fitted = true;
}

std::vector<size_t> every_row(size_t n) {
  std::vector<size_t> rows(n);
  for (size_t i = 0; i < n; ++i) rows[i] = i;
  return rows;
}

}  // namespace

IsoflopResult fit_isoflop(const std::vector<Point>& points, const IsoflopOptions& o) {
  IsoflopResult result;
  for (const auto& group : group_by_budget(points, o.group_tolerance)) {
    IsoflopProfile prof = fit_profile(BudgetRows(group), every_row(group.size()), o.min_points);
    for (const auto& p : group) {
      prof.params.push_back(p.params);
      prof.losses.push_back(p.loss);
    }
    result.profiles.push_back(std::move(prof));
  }
  fit_vertex_laws(result, flops_per_param_token(points));
  return result;
}

IsoflopBootstrap bootstrap_isoflop(const std::vector<Point>& points, const IsoflopOptions& o,
                                   int resamples, uint64_t seed, double level) {
  IsoflopBootstrap out;
  // The budgets are the design: each resample draws within each budget.
  std::vector<BudgetRows> budgets;
  for (const auto& g : group_by_budget(points, o.group_tolerance)) budgets.emplace_back(g);
  const double k = flops_per_param_token(points);
  std::mt19937_64 rng(seed);
  std::vector<double> n_exp, l_exp;
  for (int r = 0; r < resamples; ++r) {
    IsoflopResult fit;
    for (const auto& g : budgets) {
      std::uniform_int_distribution<size_t> pick(0, g.log_n.size() - 1);
      std::vector<size_t> take(g.log_n.size());
      for (auto& i : take) i = pick(rng);
      fit.profiles.push_back(fit_profile(g, take, o.min_points));
    }
    fit_vertex_laws(fit, k);
    if (!fit.fitted) {
      ++out.skipped;
      continue;
    }
    out.n_opt.push_back(fit.n_opt);
    out.loss_opt.push_back(fit.loss_opt);
    n_exp.push_back(fit.n_opt.exponent);
    l_exp.push_back(fit.loss_opt.exponent);
  }
  if (!n_exp.empty()) {
    const Interval n = percentile_interval(n_exp, level), l = percentile_interval(l_exp, level);
    out.n_exponent_low = n.low, out.n_exponent_high = n.high;
    out.loss_exponent_low = l.low, out.loss_exponent_high = l.high;
  }
  return out;
}

std::pair<double, double> IsoflopBootstrap::loss_interval(double flops, double level) const {
  std::vector<double> v;
  for (const auto& l : loss_opt) v.push_back(l.at(flops));
  if (v.empty()) return {0, 0};
  const Interval i = percentile_interval(v, level);
  return {i.low, i.high};
}

}  // namespace scalebed::analysis
