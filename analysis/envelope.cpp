// Pareto frontier and the laws fitted on it.
#include "envelope.h"

#include "surface_fit.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <random>
#include <thread>

namespace scalebed::analysis {
namespace {

// Least squares of y = c0 + c1·x; returns SSE.
double line_fit(const std::vector<double>& x, const std::vector<double>& y, double& c0,
                double& c1) {
  const size_t n = x.size();
  double mx = 0, my = 0;
  for (size_t i = 0; i < n; ++i) mx += x[i] / n, my += y[i] / n;
  double sxx = 0, sxy = 0;
  for (size_t i = 0; i < n; ++i) sxx += (x[i] - mx) * (x[i] - mx), sxy += (x[i] - mx) * (y[i] - my);
  c1 = sxx > 0 ? sxy / sxx : 0;
  c0 = my - c1 * mx;
  double sse = 0;
  for (size_t i = 0; i < n; ++i) sse += std::pow(y[i] - c0 - c1 * x[i], 2);
  return sse;
}

PowerLaw power_law(const std::vector<double>& x, const std::vector<double>& y) {
  std::vector<double> lx, ly;
  for (size_t i = 0; i < x.size(); ++i) lx.push_back(std::log(x[i])), ly.push_back(std::log(y[i]));
  double c0, c1;
  const double sse = line_fit(lx, ly, c0, c1);
  double my = 0, sst = 0;
  for (double v : ly) my += v / ly.size();
  for (double v : ly) sst += (v - my) * (v - my);
  return {std::exp(c0), c1, sst > 0 ? 1 - sse / sst : 1.0};
}

}  // namespace

std::vector<Point> pareto_frontier(std::vector<Point> points) {
  std::sort(points.begin(), points.end(), [](const Point& a, const Point& b) {
    return a.flops < b.flops || (a.flops == b.flops && a.loss < b.loss);
  });
  std::vector<Point> frontier;
  double best = 1e300;
  for (const Point& p : points) {
    if (p.loss < best) {
      frontier.push_back(p);
      best = p.loss;
    }
  }
  return frontier;
}

namespace {

// The law on a frontier already found (sorted by FLOPs).
EnvelopeResult fit_frontier(std::vector<Point> frontier, double floor) {
  EnvelopeResult r;
  r.frontier = std::move(frontier);
  if (r.frontier.size() < 4) {
    r.note = "only " + std::to_string(r.frontier.size()) + " frontier points (need 4)";
    return r;
  }
  std::vector<double> log_c, c, n, d;
  double min_loss = 1e300;
  for (const auto& p : r.frontier) {
    log_c.push_back(std::log(p.flops));
    c.push_back(p.flops);
    n.push_back(p.params);
    d.push_back(p.tokens);
    min_loss = std::min(min_loss, p.loss);
  }
  // E in [floor, min loss): 2,000-point search, log(L − E) = log A − α·log C for each.
  if (floor >= min_loss) {
    r.note = "the frontier reaches the known floor: no reducible loss left to fit";
    return r;
  }
  const double lo = std::max(0.0, floor);
  // x = log C is the same for every E: its mean and spread once, then per E
  // one pass for the slope and the residual sum of squares (no allocation:
  // the bootstrap runs this 2,000-point search a thousand times).
  const size_t n_f = log_c.size();
  double mx = 0;
  for (double v : log_c) mx += v / n_f;
  std::vector<double> dx(n_f), losses(n_f);
  double sxx = 0;
  for (size_t i = 0; i < n_f; ++i) {
    dx[i] = log_c[i] - mx, sxx += dx[i] * dx[i];
    losses[i] = r.frontier[i].loss;
  }
  double best_sse = 1e300;
  for (int k = 0; k < 2000; ++k) {
    const double E = lo + (min_loss - lo) * k / 2000.0;
    double sy = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < n_f; ++i) {
      const double y = std::log(losses[i] - E);
      sy += y, syy += y * y, sxy += dx[i] * y;
    }
    const double my = sy / n_f, c1 = sxx > 0 ? sxy / sxx : 0;
    const double sse = std::max(0.0, syy - n_f * my * my - c1 * sxy);
    if (sse < best_sse && c1 < 0) {
      best_sse = sse;
      r.E = E;
      r.A = std::exp(my - c1 * mx);
      r.alpha = -c1;
    }
  }
  r.n_opt = power_law(c, n);
  r.d_opt = power_law(c, d);
  r.fitted = best_sse < 1e300;
  if (!r.fitted) {
    r.note = "the frontier's loss does not fall with FLOPs";
  } else if (floor > 0 && r.E <= lo) {
    r.note = "E sits at the known floor, the lowest value it may take";
  } else if (floor <= 0 && r.E == 0) {
    r.note = "E = 0: a pure power law fits this frontier best (no irreducible loss determined)";
  }
  return r;
}

}  // namespace

EnvelopeResult fit_envelope(const std::vector<Point>& points, double floor) {
  return fit_frontier(pareto_frontier(points), floor);
}

EnvelopeBootstrap bootstrap_envelope(const std::vector<Point>& points, int resamples, uint64_t seed,
                                     double level, double floor) {
  EnvelopeBootstrap out;
  std::vector<double> alphas, n_exponents;
  // The points in frontier order once; a resample's frontier is then one scan
  // over the points it drew (the same frontier as sorting the resample).
  std::vector<size_t> order(points.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const Point &x = points[a], &y = points[b];
    return x.flops < y.flops || (x.flops == y.flops && x.loss < y.loss);
  });
  // Resample r draws from its own stream, so two threads give the same
  // result as one.
  std::vector<EnvelopeResult> fits(resamples);
  std::vector<std::thread> pool;
  for (int w = 0; w < 2; ++w) {
    pool.emplace_back([&, w] {
      std::vector<char> drawn(points.size());
      std::uniform_int_distribution<size_t> pick(0, points.size() - 1);
      for (int r = w; r < resamples; r += 2) {
        std::mt19937_64 rng(seed + 0x9E3779B97F4A7C15ull * (r + 1));
        std::fill(drawn.begin(), drawn.end(), 0);
        for (size_t i = 0; i < points.size(); ++i) drawn[pick(rng)] = 1;
        std::vector<Point> frontier;
        double best = 1e300;
        for (size_t i : order) {
          if (drawn[i] && points[i].loss < best)
            frontier.push_back(points[i]), best = points[i].loss;
        }
        fits[r] = fit_frontier(std::move(frontier), floor);
      }
    });
  }
  for (auto& t : pool) t.join();
  for (const auto& e : fits) {
    if (!e.fitted) continue;
    alphas.push_back(e.alpha);
    n_exponents.push_back(e.n_opt.exponent);
  }
  out.refits = static_cast<int>(alphas.size());
  if (!alphas.empty()) {
    const Interval a = percentile_interval(alphas, level),
                   n = percentile_interval(n_exponents, level);
    out.alpha_low = a.low, out.alpha_high = a.high;
    out.n_exponent_low = n.low, out.n_exponent_high = n.high;
  }
  return out;
}

}  // namespace scalebed::analysis
