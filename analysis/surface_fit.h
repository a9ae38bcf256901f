// Chinchilla Approach 3 (analysis.md): the parametric loss surface
//   L(N, D) = E + A/N^α + B/D^β
// fitted in log space, min Σ_i Huber_δ(LSE(a − α·log N_i, b − β·log D_i, e) − log L_i)
// with A = e^a, B = e^b, E = e^e, the Huber loss summed (not averaged: a mean
// makes the optimiser stop early, the error Epoch AI found), L-BFGS from a
// grid of starts, Newton's method to finish, and bootstrap intervals.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lbfgs.h"
#include "points.h"

namespace scalebed::analysis {

struct SurfaceLaw {
  double E = 0, A = 0, B = 0, alpha = 0, beta = 0;
  // k of C = k·N·D: FLOPs per parameter and token under the points' FLOP
  // convention (6 for 6ND; the median of C/(N·D) of the points otherwise).
  double k = 6;
  double predict(double params, double tokens) const;
  // Compute-optimal allocation under C = k·N·D (closed form):
  //   G = (αA/(βB))^{1/(α+β)}, N_opt = G·(C/k)^{β/(α+β)}, D_opt = G^{-1}·(C/k)^{α/(α+β)}
  double n_opt(double flops) const;
  double d_opt(double flops) const;
  double n_exponent() const { return beta / (alpha + beta); }  // a in N_opt ∝ C^a
  // An allocation needs both terms to fall with scale like power laws
  // (0.01 < α, β < 2.5, A, B > 0, finite) and points that vary both N and D
  // (`unidentified` empty); otherwise `why` says what the fit found.
  bool allocatable(std::string* why = nullptr) const;
  // Set from the points (surface_terms_unidentified): why a term cannot be
  // fitted at all, e.g. a sweep of one model size.
  std::string unidentified;
};

struct SurfaceFitOptions {
  double huber_delta = 1e-3;
  // Start grid (analysis.md): α, β ∈ {0, 0.5, …, 2}, e ∈ {−1, −0.5, …, 1},
  // a, b ∈ {0, 5, …, 25}: 5·5·5·6·6 = 4,500 starts.
  std::vector<double> alpha_grid{0, 0.5, 1, 1.5, 2}, beta_grid{0, 0.5, 1, 1.5, 2},
      e_grid{-1, -0.5, 0, 0.5, 1}, a_grid{0, 5, 10, 15, 20, 25}, b_grid{0, 5, 10, 15, 20, 25};
  LbfgsOptions lbfgs;
  // Screening: every start first runs screen_iterations L-BFGS iterations,
  // then the `polish` best are run to convergence (0: run all to convergence).
  int screen_iterations = 20, polish = 100;
  // Large inputs: the screen and the polish run on an evenly drawn subset of
  // at most screen_rows points (seeded), where the basins are the same; the
  // `finish` best polished optima are then run to convergence on every point
  // by Newton's method. With fewer points the subset is all of them.
  size_t screen_rows = 1000;
  int finish = 5;
  int threads = 2;
  // Called with a progress line ("bootstrap 400/1000 refits, 6 s left") at
  // most every few seconds during long stages; unset: silent.
  std::function<void(const std::string&)> progress;
  // > 0: E is held at this value (a known irreducible loss) and only A, B,
  // alpha and beta are fitted.
  double fixed_E = 0;
};

struct SurfaceFit {
  SurfaceLaw law;
  double objective = 0;      // summed Huber loss at the optimum
  double gradient_norm = 0;  // ‖∇‖∞ at the optimum
  // The optimum lies on or outside the box spanned by the start grid: the
  // grid may be too small, widen it before trusting the fit.
  bool optimum_at_grid_edge = false;
  int starts = 0;
  // The distinct optima the polished starts converged to (best first; at most
  // the `polish` best): the landscape's basins, from which a variant of the
  // same problem (another Huber δ, fewer points) can be refitted without a
  // new 4,500-start search.
  std::vector<SurfaceLaw> basins;
};

// The points as the objective reads them: contiguous logs of N, D and L, and
// each point's weight in the sum (1, or a bootstrap resample's count).
struct SurfaceData {
  explicit SurfaceData(const std::vector<Point>& points);
  SurfaceData(const std::vector<Point>& points, const std::vector<double>& weights);
  std::vector<double> log_n, log_d, log_loss, weight;
};

using SurfaceHessian = Eigen::Matrix<double, 5, 5>;

// The summed (weighted) Huber objective and its gradient at θ = (a, b, e, α, β);
// with `hessian`, also its exact Hessian (where |r| = δ, the one-sided one).
double surface_objective(const SurfaceData& data, const Eigen::VectorXd& theta, double delta,
                         Eigen::VectorXd& grad, SurfaceHessian* hessian = nullptr);
double surface_objective(const std::vector<Point>& points, const Eigen::VectorXd& theta,
                         double delta, Eigen::VectorXd& grad);

SurfaceFit fit_surface(const std::vector<Point>& points, const SurfaceFitOptions& o = {});

// Variable projection (analysis.md): for fixed (α, β) the surface is linear
// in (E, A, B); on a grid of (α, β) (0.02 … 2.5, step 0.02) solve that small
// non-negative least-squares problem in relative error, take the best grid
// cell, then polish with L-BFGS on the same Huber objective as fit_surface.
// One deterministic start instead of 4,500: faster, and a cross-check.
SurfaceFit fit_surface_varpro(const std::vector<Point>& points, const SurfaceFitOptions& o = {});

// Refits one start (e.g. the full-data optimum) on `points`, by Newton's
// method (the bootstrap's and the held-out check's refits start near the optimum).
SurfaceFit refit_surface(const std::vector<Point>& points, const SurfaceLaw& start,
                         const SurfaceFitOptions& o = {});

// The best of Newton refits from each of `basins` (a fit's basins) on
// `points` under `o`.
SurfaceFit refit_from_basins(const std::vector<Point>& points,
                             const std::vector<SurfaceLaw>& basins, const SurfaceFitOptions& o);

struct Interval {
  double low = 0, high = 0;
  bool contains(double v) const { return low <= v && v <= high; }
};

struct SurfaceBootstrap {
  std::vector<SurfaceLaw> laws;  // one per resample
  Interval E, A, B, alpha, beta, n_exponent;
  // The full fit's residuals, log L_i − log L̂_i: how far single runs scatter
  // around the law (seed noise, hyperparameters not exactly at their optimum,
  // curve reading), for prediction intervals.
  std::vector<double> log_residuals;
};

// Percentile intervals (level, e.g. 0.95) from `resamples` refits on points
// drawn with replacement (seeded), each started from `fit`.
SurfaceBootstrap bootstrap_surface(const std::vector<Point>& points, const SurfaceFit& fit,
                                   int resamples, uint64_t seed, double level = 0.95,
                                   const SurfaceFitOptions& o = {});

// The central `level` interval of `values` (linear between order statistics).
// +inf counts as the largest value: an end that reaches it is +inf.
Interval percentile_interval(std::vector<double> values, double level);

// Where the loss of one new run at (params, tokens) will lie: every bootstrap
// law's prediction times every residual factor exp(r_i), pooled, and their
// percentile interval. Wider than the interval of the law's mean, which only
// carries the uncertainty of the coefficients.
Interval prediction_interval(const SurfaceBootstrap& b, double params, double tokens, double level);

// The coefficients the points leave undetermined, each named with its
// interval: A or B whose interval spans more than three decades, alpha or beta
// whose interval leaves the range a law can have (0.01 to 2.5, as in
// allocatable()). Such coefficients trade off against each other; the
// predicted losses and the N_opt exponent carry their own intervals.
std::vector<std::string> undetermined_coefficients(const SurfaceBootstrap& b);

// The fewest points a surface fit accepts: its five coefficients plus five
// residual degrees of freedom.
constexpr size_t kMinSurfacePoints = 10;

// Why the points cannot determine the surface: fewer than three distinct
// model sizes (A, alpha) or token counts (B, beta), as in a batch or LR sweep
// of one model; fewer than kMinSurfacePoints points; or points on one line in
// (log N, log D), as on a single IsoFLOP budget. Empty when it is determined.
std::string surface_terms_unidentified(const std::vector<Point>& points);

}  // namespace scalebed::analysis
