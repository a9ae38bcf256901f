// Approach 3: Huber-in-log-space surface fit, multi-start L-BFGS, bootstrap.
#include "surface_fit.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <mutex>
#include <random>
#include <set>
#include <thread>

namespace scalebed::analysis {

double SurfaceLaw::predict(double params, double tokens) const {
  return E + A / std::pow(params, alpha) + B / std::pow(tokens, beta);
}

namespace {
// Exponents beyond the start grid's 2 mean a term that acts as a step, not a law.
constexpr double kMinExponent = 0.01, kMaxExponent = 2.5;
bool lawful_exponent(double e) {
  return e > kMinExponent && e < kMaxExponent;
}
}  // namespace

bool SurfaceLaw::allocatable(std::string* why) const {
  if (!unidentified.empty()) {
    if (why) *why = unidentified;
    return false;
  }
  const bool finite = std::isfinite(E) && std::isfinite(A) && std::isfinite(B) &&
                      std::isfinite(alpha) && std::isfinite(beta);
  const bool ok = finite && lawful_exponent(alpha) && lawful_exponent(beta) && A > 0 && B > 0;
  if (!ok && why) {
    char buf[200];
    std::snprintf(buf, sizeof buf,
                  "the fit has no compute-optimal trade-off (alpha %.3g, beta %.3g, A %.3g, B "
                  "%.3g): the points do not constrain both the size and the data term",
                  alpha, beta, A, B);
    *why = buf;
  }
  return ok;
}

double SurfaceLaw::n_opt(double flops) const {
  const double G = std::pow(alpha * A / (beta * B), 1.0 / (alpha + beta));
  return G * std::pow(flops / k, beta / (alpha + beta));
}

double SurfaceLaw::d_opt(double flops) const {
  const double G = std::pow(alpha * A / (beta * B), 1.0 / (alpha + beta));
  return std::pow(flops / k, alpha / (alpha + beta)) / G;
}

namespace {
std::vector<double> weights_of(const std::vector<Point>& points) {
  std::vector<double> w;
  for (const auto& p : points) w.push_back(p.weight);
  return w;
}
}  // namespace

SurfaceData::SurfaceData(const std::vector<Point>& points)
    : SurfaceData(points, weights_of(points)) {}

SurfaceData::SurfaceData(const std::vector<Point>& points, const std::vector<double>& weights)
    : log_n(points.size()), log_d(points.size()), log_loss(points.size()), weight(weights) {
  for (size_t i = 0; i < points.size(); ++i) {
    log_n[i] = std::log(points[i].params);
    log_d[i] = std::log(points[i].tokens);
    log_loss[i] = std::log(points[i].loss);
  }
}

double surface_objective(const SurfaceData& data, const Eigen::VectorXd& t, double delta,
                         Eigen::VectorXd& grad, SurfaceHessian* hessian) {
  const double a = t[0], b = t[1], e = t[2], alpha = t[3], beta = t[4];
  double total = 0, g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0;
  // Hessian: with s the softmax weights of (u, v, e) and ∇r = (s_u, s_v, s_e,
  // −s_u·log N, −s_v·log D), each point adds w·(Huber''(r) − Huber'(r))·∇r∇rᵀ
  // plus w·Huber'(r)·Σ_k s_k·j_k j_kᵀ (j_k: the gradient of the k-th exponent).
  double outer[15] = {0};  // lower triangle of Σ c·∇r∇rᵀ, row by row
  double su = 0, su_ln = 0, su_ln2 = 0, sv = 0, sv_ld = 0, sv_ld2 = 0, se = 0;
  const size_t n = data.log_n.size();
  const double* ln_p = data.log_n.data();
  const double* ld_p = data.log_d.data();
  const double* ll_p = data.log_loss.data();
  const double* w_p = data.weight.data();
  for (size_t i = 0; i < n; ++i) {
    const double ln = ln_p[i], ld = ld_p[i], w = w_p[i];
    const double u = a - alpha * ln, v = b - beta * ld;
    const double m = std::max({u, v, e});
    const double wu = std::exp(u - m), wv = std::exp(v - m), we = std::exp(e - m);
    const double sum = wu + wv + we;
    const double r = m + std::log(sum) - ll_p[i];  // log-space residual
    double dr;                                     // Huber'(r)
    const bool inner = std::abs(r) <= delta;
    if (inner) {
      total += w * 0.5 * r * r;
      dr = r;
    } else {
      total += w * delta * (std::abs(r) - 0.5 * delta);
      dr = r > 0 ? delta : -delta;
    }
    const double k = w * dr / sum;
    g0 += k * wu;
    g1 += k * wv;
    g2 += k * we;
    g3 -= k * wu * ln;
    g4 -= k * wv * ld;
    if (hessian) {
      const double pu = wu / sum, pv = wv / sum, pe = we / sum;
      const double dr_dt[5] = {pu, pv, pe, -pu * ln, -pv * ld};
      const double curvature = w * ((inner ? 1.0 : 0.0) - dr);
      for (int p = 0, at = 0; p < 5; ++p) {
        const double cp = curvature * dr_dt[p];
        for (int q = 0; q <= p; ++q) outer[at++] += cp * dr_dt[q];
      }
      const double c = w * dr;
      su += c * pu, su_ln += c * pu * ln, su_ln2 += c * pu * ln * ln;
      sv += c * pv, sv_ld += c * pv * ld, sv_ld2 += c * pv * ld * ld;
      se += c * pe;
    }
  }
  grad.resize(5);
  grad << g0, g1, g2, g3, g4;
  if (hessian) {
    SurfaceHessian& h = *hessian;
    for (int p = 0, at = 0; p < 5; ++p) {
      for (int q = 0; q <= p; ++q, ++at) h(p, q) = h(q, p) = outer[at];
    }
    h(0, 0) += su, h(0, 3) -= su_ln, h(3, 0) -= su_ln, h(3, 3) += su_ln2;
    h(1, 1) += sv, h(1, 4) -= sv_ld, h(4, 1) -= sv_ld, h(4, 4) += sv_ld2;
    h(2, 2) += se;
  }
  return total;
}

double surface_objective(const std::vector<Point>& points, const Eigen::VectorXd& t, double delta,
                         Eigen::VectorXd& grad) {
  return surface_objective(SurfaceData(points), t, delta, grad);
}

namespace {

SurfaceLaw law_of(const Eigen::VectorXd& t) {
  return {std::exp(t[2]), std::exp(t[0]), std::exp(t[1]), t[3], t[4]};
}

struct StartResult {
  Eigen::VectorXd x;
  double value = std::numeric_limits<double>::infinity(), gradient_norm = 0;
};

StartResult minimize_from(const SurfaceData& data, const Eigen::VectorXd& start,
                          const SurfaceFitOptions& o, const LbfgsOptions& lbfgs) {
  Eigen::VectorXd x0 = start;
  if (o.fixed_E > 0) x0[2] = std::log(o.fixed_E);
  auto f = [&](const Eigen::VectorXd& x, Eigen::VectorXd& g) {
    if (o.fixed_E <= 0) return surface_objective(data, x, o.huber_delta, g);
    Eigen::VectorXd held = x;
    held[2] = std::log(o.fixed_E);
    const double v = surface_objective(data, held, o.huber_delta, g);
    g[2] = 0;  // E does not move
    return v;
  };
  LbfgsResult r = minimize_lbfgs(f, x0, lbfgs);
  if (o.fixed_E > 0) r.x[2] = std::log(o.fixed_E);
  return {r.x, r.value, r.gradient_norm};
}

// Newton's method on the exact Hessian where it is positive definite, else
// Levenberg–Marquardt steps on the Gauss–Newton part; backtracking line search.
// Near an optimum it converges in a few passes over the points where L-BFGS
// takes dozens, which is what large inputs and 1,000 bootstrap refits need.
StartResult newton_from(const SurfaceData& data, Eigen::VectorXd x, const SurfaceFitOptions& o) {
  const bool hold_e = o.fixed_E > 0;
  if (hold_e) x[2] = std::log(o.fixed_E);
  auto evaluate = [&](const Eigen::VectorXd& at, Eigen::VectorXd& g, SurfaceHessian& h) {
    const double v = surface_objective(data, at, o.huber_delta, g, &h);
    if (hold_e) {  // E does not move: its row and column leave the system
      g[2] = 0;
      h.row(2).setZero();
      h.col(2).setZero();
      h(2, 2) = 1;
    }
    return v;
  };
  Eigen::VectorXd g(5), g_new(5);
  SurfaceHessian h, h_new;
  double fx = evaluate(x, g, h);
  const int max_iterations = std::min(o.lbfgs.max_iterations, 200);
  for (int it = 0; it < max_iterations; ++it) {
    if (!std::isfinite(fx) || g.lpNorm<Eigen::Infinity>() < o.lbfgs.gradient_tolerance) break;
    Eigen::VectorXd step;
    Eigen::LDLT<SurfaceHessian> exact(h);
    if (exact.info() == Eigen::Success && (exact.vectorD().array() > 0).all())
      step = -exact.solve(g);
    if (step.size() == 0 || !step.allFinite() || step.dot(g) >= 0) {
      // Not positive definite here: damp until the step descends.
      const double scale = std::max(h.diagonal().cwiseAbs().maxCoeff(), 1e-12);
      step.resize(0);
      for (double mu = 1e-8 * scale; mu < 1e12 * scale; mu *= 10) {
        SurfaceHessian damped = h;
        damped.diagonal().array() += mu;
        Eigen::LDLT<SurfaceHessian> ldlt(damped);
        if (ldlt.info() != Eigen::Success || !(ldlt.vectorD().array() > 0).all()) continue;
        Eigen::VectorXd candidate = -ldlt.solve(g);
        if (candidate.allFinite() && candidate.dot(g) < 0) {
          step = candidate;
          break;
        }
      }
      if (step.size() == 0) step = -g / std::max(1.0, g.lpNorm<Eigen::Infinity>());
    }
    const double slope = step.dot(g);
    // The step's predicted decrease is below the value's tolerance: at the
    // optimum to within rounding (a line search would only chase its noise).
    if (-slope <= o.lbfgs.relative_tolerance * std::max(std::abs(fx), 1e-300)) break;
    double t = 1, f_new = 0;
    bool accepted = false;
    for (int k = 0; k < 60 && !accepted; ++k, t *= 0.5) {
      f_new = evaluate(x + t * step, g_new, h_new);
      accepted = std::isfinite(f_new) && f_new <= fx + 1e-4 * t * slope;
      if (accepted) x += t * step;
    }
    if (!accepted) break;
    const double change = std::abs(fx - f_new), f_old = fx;
    fx = f_new, g = g_new, h = h_new;
    if (change <= o.lbfgs.relative_tolerance * std::max(std::abs(f_old), 1e-300)) break;
  }
  return {x, fx, g.lpNorm<Eigen::Infinity>()};
}

SurfaceFit fit_of(const StartResult& r, const std::vector<Point>& points) {
  SurfaceFit fit;
  fit.law = law_of(r.x);
  fit.law.k = flops_per_param_token(points);
  fit.objective = r.value;
  fit.gradient_norm = r.gradient_norm;
  fit.starts = 1;
  return fit;
}

Eigen::VectorXd theta_of(const SurfaceLaw& l) {
  Eigen::VectorXd t(5);
  t << std::log(l.A), std::log(l.B), std::log(l.E), l.alpha, l.beta;
  return t;
}

// The result with the lowest finite objective (the first when none is finite).
const StartResult& lowest(const std::vector<StartResult>& results) {
  size_t winner = 0;
  for (size_t j = 1; j < results.size(); ++j) {
    if (std::isfinite(results[j].value) && !(results[j].value >= results[winner].value)) winner = j;
  }
  return results.at(winner);
}

// At most `rows` of the points, drawn evenly (seeded, so reruns agree) and
// kept in their order; all of them when there are no more.
std::vector<Point> screening_subset(const std::vector<Point>& points, size_t rows) {
  if (points.size() <= rows) return points;
  std::vector<size_t> index(points.size());
  for (size_t i = 0; i < index.size(); ++i) index[i] = i;
  std::mt19937_64 rng(0x5CA1EBEDull);
  for (size_t i = 0; i < rows; ++i) {
    std::uniform_int_distribution<size_t> pick(i, index.size() - 1);
    std::swap(index[i], index[pick(rng)]);
  }
  index.resize(rows);
  std::sort(index.begin(), index.end());
  std::vector<Point> out;
  out.reserve(rows);
  for (size_t i : index) out.push_back(points[i]);
  return out;
}

// Runs `job(i)` for i in [0, count) on `threads` threads, interleaved.
void parallel_for(int threads, size_t count, const std::function<void(size_t)>& job) {
  std::vector<std::thread> pool;
  for (int w = 0; w < std::max(1, threads); ++w) {
    pool.emplace_back([&, w] {
      for (size_t i = w; i < count; i += std::max(1, threads)) job(i);
    });
  }
  for (auto& t : pool) t.join();
}

// Progress of `total` jobs done on several threads: a line through
// o.progress at most every 5 s, with the time left at the rate so far.
class Progress {
 public:
  Progress(const SurfaceFitOptions& o, std::string what, size_t total)
      : sink_(o.progress), what_(std::move(what)), total_(total) {}
  void done_one() {
    const size_t done = ++done_;
    if (!sink_) return;
    const auto now = Clock::now();
    std::lock_guard<std::mutex> lock(mutex_);
    const double since = std::chrono::duration<double>(now - last_).count();
    if (since < 5 || done == total_) return;
    last_ = now;
    const double elapsed = std::chrono::duration<double>(now - start_).count();
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s %zu/%zu, about %.0f s left", what_.c_str(), done, total_,
                  elapsed / done * (total_ - done));
    sink_(buf);
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::function<void(const std::string&)> sink_;
  std::string what_;
  size_t total_;
  std::atomic<size_t> done_{0};
  std::mutex mutex_;
  Clock::time_point start_ = Clock::now(), last_ = Clock::now();
};

}  // namespace

SurfaceFit fit_surface(const std::vector<Point>& points, const SurfaceFitOptions& o) {
  std::vector<Eigen::VectorXd> starts;
  const std::vector<double> e_grid =
      o.fixed_E > 0 ? std::vector<double>{std::log(o.fixed_E)} : o.e_grid;
  for (double al : o.alpha_grid)
    for (double be : o.beta_grid)
      for (double e : e_grid)
        for (double a : o.a_grid)
          for (double b : o.b_grid) {
            Eigen::VectorXd t(5);
            t << a, b, e, al, be;
            starts.push_back(t);
          }
  // Screen: every start runs a short L-BFGS (o.screen_iterations); only the
  // o.polish best of those are run to convergence. Most of the 4,500 starts
  // fall into the same few basins within a few dozen iterations, and a full
  // run costs hundreds (tests/test_analysis.cpp: the screened optimum equals
  // the exhaustive one on Chinchilla and on synthetic laws). Both run on a
  // subset of large inputs; Newton's method finishes on every point.
  const SurfaceData sample(screening_subset(points, std::max<size_t>(o.screen_rows, 1)));
  const bool screen = o.polish > 0 && static_cast<size_t>(o.polish) < starts.size();
  LbfgsOptions short_run = o.lbfgs;
  if (screen) short_run.max_iterations = o.screen_iterations;
  std::vector<StartResult> screened(starts.size());
  {
    Progress progress(o, "Approach 3: starts", starts.size());
    parallel_for(o.threads, starts.size(), [&](size_t i) {
      screened[i] = minimize_from(sample, starts[i], o, short_run);
      progress.done_one();
    });
  }
  auto by_value = [](const StartResult& x, const StartResult& y) {
    const double vx = std::isfinite(x.value) ? x.value : std::numeric_limits<double>::infinity();
    const double vy = std::isfinite(y.value) ? y.value : std::numeric_limits<double>::infinity();
    return vx < vy;
  };
  std::vector<StartResult> polished = screened;
  if (screen) {
    std::partial_sort(screened.begin(), screened.begin() + o.polish, screened.end(), by_value);
    polished.assign(o.polish, StartResult{});
    parallel_for(o.threads, polished.size(),
                 [&](size_t j) { polished[j] = minimize_from(sample, screened[j].x, o, o.lbfgs); });
  }
  // Finish: the best few to convergence on every point (a no-op in effect
  // when the subset was all of them).
  const size_t finish = std::min<size_t>(std::max(o.finish, 1), polished.size());
  std::partial_sort(polished.begin(), polished.begin() + finish, polished.end(), by_value);
  const SurfaceData data(points);
  std::vector<StartResult> finals(finish);
  parallel_for(o.threads, finish,
               [&](size_t j) { finals[j] = newton_from(data, polished[j].x, o); });
  SurfaceFit fit = fit_of(lowest(finals), points);
  // Basins: polished optima that differ (in any coordinate by more than 1e-3),
  // best first.
  std::sort(polished.begin(), polished.end(), by_value);
  std::vector<Eigen::VectorXd> seen;
  for (const auto& p : polished) {
    if (!std::isfinite(p.value) || !p.x.allFinite()) continue;
    const bool known = std::any_of(seen.begin(), seen.end(), [&](const Eigen::VectorXd& x) {
      return (x - p.x).lpNorm<Eigen::Infinity>() < 1e-3;
    });
    if (known) continue;
    seen.push_back(p.x);
    fit.basins.push_back(law_of(p.x));
  }
  auto inside = [](const std::vector<double>& grid, double v) {
    return *std::min_element(grid.begin(), grid.end()) < v &&
           v < *std::max_element(grid.begin(), grid.end());
  };
  const SurfaceLaw& l = fit.law;
  fit.optimum_at_grid_edge = !(inside(o.a_grid, std::log(l.A)) && inside(o.b_grid, std::log(l.B)) &&
                               (o.fixed_E > 0 || inside(o.e_grid, std::log(l.E))) &&
                               inside(o.alpha_grid, l.alpha) && inside(o.beta_grid, l.beta));
  fit.starts = static_cast<int>(starts.size());
  return fit;
}

SurfaceFit fit_surface_varpro(const std::vector<Point>& points, const SurfaceFitOptions& o) {
  // The grid search on the screening subset (all points unless many), the
  // polish on every point.
  const std::vector<Point> sample = screening_subset(points, std::max<size_t>(o.screen_rows, 1));
  const size_t n = sample.size();
  std::vector<double> log_n(n), log_d(n), loss(n);
  for (size_t i = 0; i < n; ++i) {
    log_n[i] = std::log(sample[i].params);
    log_d[i] = std::log(sample[i].tokens);
    loss[i] = sample[i].loss;
  }
  // Inner problem for fixed (α, β): min Σ ((E + A·x1 + B·x2 − L)/L)² over
  // E, A, B ≥ 0, by trying every subset of free coefficients (7 small solves;
  // with E held, the target is 1 − E/L and only A and B are free).
  const bool hold_e = o.fixed_E > 0;
  auto inner = [&](double alpha, double beta, Eigen::Vector3d* coef) {
    Eigen::MatrixXd X(n, 3);
    Eigen::VectorXd y = Eigen::VectorXd::Ones(n);
    for (size_t i = 0; i < n; ++i) {
      X(i, 0) = 1.0 / loss[i];
      X(i, 1) = std::exp(-alpha * log_n[i]) / loss[i];
      X(i, 2) = std::exp(-beta * log_d[i]) / loss[i];
      if (hold_e) y(i) = 1.0 - o.fixed_E / loss[i];
    }
    double best = std::numeric_limits<double>::infinity();
    for (int mask = 1; mask < 8; ++mask) {
      if (hold_e && (mask & 1)) continue;
      std::vector<int> cols;
      for (int c = 0; c < 3; ++c) {
        if (mask & (1 << c)) cols.push_back(c);
      }
      Eigen::MatrixXd Xs(n, cols.size());
      for (size_t c = 0; c < cols.size(); ++c) Xs.col(c) = X.col(cols[c]);
      const Eigen::VectorXd w = (Xs.transpose() * Xs).ldlt().solve(Xs.transpose() * y);
      if ((w.array() < 0).any() || !w.allFinite()) continue;
      const double r = (Xs * w - y).squaredNorm();
      if (r < best) {
        best = r;
        coef->setZero();
        for (size_t c = 0; c < cols.size(); ++c) (*coef)[cols[c]] = w[c];
        if (hold_e) (*coef)[0] = o.fixed_E;
      }
    }
    return best;
  };
  double best = std::numeric_limits<double>::infinity(), best_alpha = 0, best_beta = 0;
  Eigen::Vector3d best_coef = Eigen::Vector3d::Zero();
  for (double alpha = 0.02; alpha <= 2.5; alpha += 0.02) {
    for (double beta = 0.02; beta <= 2.5; beta += 0.02) {
      Eigen::Vector3d coef;
      const double r = inner(alpha, beta, &coef);
      if (r < best) best = r, best_alpha = alpha, best_beta = beta, best_coef = coef;
    }
  }
  // Polish from the grid optimum (a zero coefficient starts at a tiny one).
  Eigen::VectorXd start(5);
  start << std::log(std::max(best_coef[1], 1e-12)), std::log(std::max(best_coef[2], 1e-12)),
      std::log(std::max(best_coef[0], 1e-12)), best_alpha, best_beta;
  const SurfaceData all(sample.size() == points.size() ? sample : points);
  const StartResult polished = minimize_from(all, start, o, o.lbfgs);
  SurfaceFit fit = fit_of(newton_from(all, polished.x, o), points);
  fit.starts = 1;
  return fit;
}

SurfaceFit refit_surface(const std::vector<Point>& points, const SurfaceLaw& start,
                         const SurfaceFitOptions& o) {
  return fit_of(newton_from(SurfaceData(points), theta_of(start), o), points);
}

SurfaceFit refit_from_basins(const std::vector<Point>& points,
                             const std::vector<SurfaceLaw>& basins, const SurfaceFitOptions& o) {
  const SurfaceData data(points);
  std::vector<StartResult> finals(basins.size());
  parallel_for(o.threads, basins.size(),
               [&](size_t j) { finals[j] = newton_from(data, theta_of(basins[j]), o); });
  SurfaceFit fit = fit_of(lowest(finals), points);
  fit.starts = static_cast<int>(basins.size());
  fit.basins = basins;
  return fit;
}

Interval percentile_interval(std::vector<double> values, double level) {
  std::sort(values.begin(), values.end());
  auto at = [&](double q) {
    const double pos = q * (values.size() - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, values.size() - 1);
    if (std::isinf(values[hi])) return pos == lo ? values[lo] : values[hi];  // not inf − inf
    return values[lo] + (pos - lo) * (values[hi] - values[lo]);
  };
  return {at((1 - level) / 2), at((1 + level) / 2)};
}

std::vector<std::string> undetermined_coefficients(const SurfaceBootstrap& b) {
  std::vector<std::string> out;
  char buf[160];
  auto interval = [&](const char* name, const Interval& i) {
    std::snprintf(buf, sizeof buf, "%s (95%% interval %.3g to %.3g)", name, i.low, i.high);
    out.push_back(buf);
  };
  for (const auto& [name, i] : {std::pair<const char*, Interval>{"A", b.A}, {"B", b.B}}) {
    if (!(i.low > 0) || !(i.high / i.low <= 1e3)) interval(name, i);
  }
  for (const auto& [name, i] :
       {std::pair<const char*, Interval>{"alpha", b.alpha}, {"beta", b.beta}}) {
    if (!lawful_exponent(i.low) || !lawful_exponent(i.high)) interval(name, i);
  }
  return out;
}

SurfaceBootstrap bootstrap_surface(const std::vector<Point>& points, const SurfaceFit& fit,
                                   int resamples, uint64_t seed, double level,
                                   const SurfaceFitOptions& o) {
  SurfaceBootstrap out;
  out.laws.resize(resamples);
  const SurfaceData all(points);
  const Eigen::VectorXd start = theta_of(fit.law);
  Progress progress(o, "Approach 3: bootstrap refits", resamples);
  parallel_for(o.threads, resamples, [&](size_t k) {
    // A resample drawn with replacement is the points weighted by how often
    // each was drawn: the same sum, over the distinct points only.
    std::mt19937_64 rng(seed + 0x9E3779B97F4A7C15ull * (k + 1));  // per-resample stream
    std::uniform_int_distribution<size_t> pick(0, points.size() - 1);
    std::vector<double> count(points.size(), 0.0);
    for (size_t i = 0; i < points.size(); ++i) count[pick(rng)] += 1;
    SurfaceData drawn = all;
    size_t kept = 0;
    for (size_t i = 0; i < points.size(); ++i) {
      if (count[i] == 0) continue;
      drawn.log_n[kept] = all.log_n[i], drawn.log_d[kept] = all.log_d[i];
      drawn.log_loss[kept] = all.log_loss[i], drawn.weight[kept] = count[i] * all.weight[i];
      ++kept;
    }
    for (auto* v : {&drawn.log_n, &drawn.log_d, &drawn.log_loss, &drawn.weight}) v->resize(kept);
    out.laws[k] = law_of(newton_from(drawn, start, o).x);
    out.laws[k].k = fit.law.k;
    progress.done_one();
  });
  auto collect = [&](auto get) {
    std::vector<double> v;
    for (const auto& l : out.laws) v.push_back(get(l));
    return percentile_interval(v, level);
  };
  out.E = collect([](const SurfaceLaw& l) { return l.E; });
  out.A = collect([](const SurfaceLaw& l) { return l.A; });
  out.B = collect([](const SurfaceLaw& l) { return l.B; });
  out.alpha = collect([](const SurfaceLaw& l) { return l.alpha; });
  out.beta = collect([](const SurfaceLaw& l) { return l.beta; });
  out.n_exponent = collect([](const SurfaceLaw& l) { return l.n_exponent(); });
  for (const auto& p : points) {
    out.log_residuals.push_back(std::log(p.loss) - std::log(fit.law.predict(p.params, p.tokens)));
  }
  return out;
}

Interval prediction_interval(const SurfaceBootstrap& b, double params, double tokens,
                             double level) {
  // Every pair up to 2e5 of them; beyond that every k-th residual (large
  // inputs), which keeps the interval's ends to well under a percent.
  const size_t pairs = b.laws.size() * b.log_residuals.size();
  const size_t stride = std::max<size_t>(1, (pairs + 199999) / 200000);
  std::vector<double> losses;
  losses.reserve(pairs / stride + b.laws.size());
  for (size_t k = 0; k < b.laws.size(); ++k) {
    const double mean = b.laws[k].predict(params, tokens);
    for (size_t i = k % stride; i < b.log_residuals.size(); i += stride) {
      losses.push_back(mean * std::exp(b.log_residuals[i]));
    }
  }
  return percentile_interval(losses, level);
}

std::string surface_terms_unidentified(const std::vector<Point>& points) {
  std::set<long> sizes, token_counts;
  for (const auto& p : points)
    sizes.insert(log_bucket(p.params)), token_counts.insert(log_bucket(p.tokens));
  auto say = [](size_t n, const char* what, const char* term) {
    return "the points hold " + std::to_string(n) + " distinct " + what + "; the " + term +
           " needs three or more";
  };
  if (sizes.size() < 3) return say(sizes.size(), "model size(s)", "size term (A, alpha)");
  if (token_counts.size() < 3)
    return say(token_counts.size(), "token count(s)", "data term (B, beta)");
  // Five coefficients need residual degrees of freedom, else the fit
  // interpolates and every bootstrap interval collapses to a point.
  if (points.size() < kMinSurfacePoints) {
    return "the surface has five coefficients and " + std::to_string(points.size()) +
           " points leave too few residual degrees of freedom (it needs " +
           std::to_string(kMinSurfacePoints) + " or more)";
  }
  // Points on one line in (log N, log D), e.g. one IsoFLOP budget (N·D fixed),
  // make A/N^alpha and B/D^beta functions of one variable: they cannot be told apart.
  const size_t n = points.size();
  double mx = 0, my = 0;
  for (const auto& p : points) mx += std::log(p.params) / n, my += std::log(p.tokens) / n;
  double sxx = 0, syy = 0, sxy = 0;
  for (const auto& p : points) {
    const double dx = std::log(p.params) - mx, dy = std::log(p.tokens) - my;
    sxx += dx * dx, syy += dy * dy, sxy += dx * dy;
  }
  const double unexplained = syy - sxy * sxy / sxx;  // residual of log D on log N
  if (unexplained < 1e-6 * syy) {
    return "the points lie on one line in (log N, log D) (one IsoFLOP budget, or tokens a power "
           "of size), so the size and the data terms cannot be told apart; add runs of the same "
           "sizes at other token counts";
  }
  return "";
}

}  // namespace scalebed::analysis
