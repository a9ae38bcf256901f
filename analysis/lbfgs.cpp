// L-BFGS with a backtracking line search.
#include "lbfgs.h"

#include <cmath>
#include <deque>

namespace scalebed::analysis {

LbfgsResult minimize_lbfgs(const Objective& f, Eigen::VectorXd x, const LbfgsOptions& o) {
  const Eigen::Index n = x.size();
  Eigen::VectorXd g(n), g_new(n);
  double fx = f(x, g);
  std::deque<Eigen::VectorXd> s_hist, y_hist;
  std::deque<double> rho_hist;
  LbfgsResult r;
  for (r.iterations = 0; r.iterations < o.max_iterations; ++r.iterations) {
    if (!std::isfinite(fx) || g.lpNorm<Eigen::Infinity>() < o.gradient_tolerance) break;
    // Two-loop recursion: d = −H·g.
    Eigen::VectorXd q = g;
    std::vector<double> alpha(s_hist.size());
    for (int i = static_cast<int>(s_hist.size()) - 1; i >= 0; --i) {
      alpha[i] = rho_hist[i] * s_hist[i].dot(q);
      q -= alpha[i] * y_hist[i];
    }
    if (!s_hist.empty()) q *= s_hist.back().dot(y_hist.back()) / y_hist.back().squaredNorm();
    for (size_t i = 0; i < s_hist.size(); ++i) {
      const double beta = rho_hist[i] * y_hist[i].dot(q);
      q += s_hist[i] * (alpha[i] - beta);
    }
    Eigen::VectorXd d = -q;
    if (d.dot(g) >= 0) {  // not a descent direction: restart from steepest descent
      d = -g;
      s_hist.clear();
      y_hist.clear();
      rho_hist.clear();
    }
    // Backtracking (Armijo) line search.
    double step = s_hist.empty() ? 1.0 / std::max(1.0, g.lpNorm<Eigen::Infinity>()) : 1.0;
    const double slope = d.dot(g);
    Eigen::VectorXd x_new;
    double f_new = 0;
    bool accepted = false;
    for (int k = 0; k < 60; ++k) {
      x_new = x + step * d;
      f_new = f(x_new, g_new);
      if (std::isfinite(f_new) && f_new <= fx + 1e-4 * step * slope) {
        accepted = true;
        break;
      }
      step *= 0.5;
    }
    if (!accepted) break;
    const Eigen::VectorXd s = x_new - x, y = g_new - g;
    const double sy = s.dot(y);
    const double change = std::abs(fx - f_new);
    x = x_new;
    g = g_new;
    const double f_old = fx;
    fx = f_new;
    if (sy > 1e-300) {
      s_hist.push_back(s);
      y_hist.push_back(y);
      rho_hist.push_back(1.0 / sy);
      if (static_cast<int>(s_hist.size()) > o.memory) {
        s_hist.pop_front();
        y_hist.pop_front();
        rho_hist.pop_front();
      }
    }
    if (change <= o.relative_tolerance * std::max(std::abs(f_old), 1e-300)) break;
  }
  r.x = x;
  r.value = fx;
  r.gradient_norm = g.lpNorm<Eigen::Infinity>();
  r.converged = r.gradient_norm < o.gradient_tolerance || r.iterations < o.max_iterations;
  return r;
}

}  // namespace scalebed::analysis
