// A compact L-BFGS minimiser (two-loop recursion, backtracking Armijo line
// search) for the small smooth problems of the analysis stage.
#pragma once

#include <Eigen/Dense>

#include <functional>

namespace scalebed::analysis {

// f(x, grad) returns the value and writes the gradient.
using Objective = std::function<double(const Eigen::VectorXd& x, Eigen::VectorXd& grad)>;

struct LbfgsOptions {
  int max_iterations = 1000;
  int memory = 10;
  double gradient_tolerance = 1e-12;  // stop when ‖∇f‖∞ falls below
  double relative_tolerance = 1e-15;  // or the value stops changing
};

struct LbfgsResult {
  Eigen::VectorXd x;
  double value = 0, gradient_norm = 0;  // ‖∇f‖∞ at x
  int iterations = 0;
  bool converged = false;
};

LbfgsResult minimize_lbfgs(const Objective& f, Eigen::VectorXd x0, const LbfgsOptions& o = {});

}  // namespace scalebed::analysis
