// EMA smoothing and the C + B·S^−b curve fit.
#include "curve_fit.h"

#include <algorithm>
#include <cmath>

#include "lbfgs.h"

namespace scalebed::analysis {

double CurveLaw::at(double step) const {
  return C + B * std::pow(step, -b);
}

std::vector<double> ema(const std::vector<double>& values, double gamma) {
  std::vector<double> out;
  double acc = 0, weight = 0;
  for (double v : values) {
    acc = gamma * acc + (1 - gamma) * v;
    weight = gamma * weight + (1 - gamma);
    out.push_back(acc / weight);
  }
  return out;
}

CurveLaw fit_curve(const std::vector<double>& steps, const std::vector<double>& losses) {
  // θ = (log B, b, c) with C = min(loss)·σ(c) keeping 0 < C < every loss.
  const double floor = *std::min_element(losses.begin(), losses.end());
  auto unpack = [&](const Eigen::VectorXd& t) {
    CurveLaw law;
    law.B = std::exp(t[0]);
    law.b = t[1];
    law.C = floor / (1 + std::exp(-t[2]));
    return law;
  };
  auto objective = [&](const Eigen::VectorXd& t, Eigen::VectorXd& g) {
    const CurveLaw law = unpack(t);
    const double dC_dc = law.C * (1 - law.C / floor);
    g.setZero(3);
    double total = 0;
    for (size_t i = 0; i < steps.size(); ++i) {
      const double power = law.B * std::pow(steps[i], -law.b);
      const double pred = law.C + power;
      const double r = std::log(pred) - std::log(losses[i]);
      total += 0.5 * r * r;
      g[0] += r * power / pred;
      g[1] += r * (-power * std::log(steps[i])) / pred;
      g[2] += r * dC_dc / pred;
    }
    return total;
  };
  CurveLaw best;
  double best_value = 1e300;
  for (double b0 : {0.1, 0.3, 0.6, 1.0}) {
    for (double c0 : {-2.0, 0.0, 2.0}) {
      Eigen::VectorXd t(3);
      t << std::log(std::max(1e-12, losses.front() - floor * 0.5)) + b0 * std::log(steps.front()),
          b0, c0;
      const LbfgsResult r = minimize_lbfgs(objective, t);
      if (r.value < best_value) {
        best_value = r.value;
        best = unpack(r.x);
      }
    }
  }
  return best;
}

}  // namespace scalebed::analysis
