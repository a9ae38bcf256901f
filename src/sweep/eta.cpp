// Least-squares run-time model of a sweep's points (see eta.h).
#include "sweep/eta.h"

#include <algorithm>

namespace scalebed {

void RunTimeModel::add_finished(const RunCost& run, double seconds) {
  finished_.push_back({run, seconds});
  fit();
}

void RunTimeModel::fit() {
  // Normal equations of  min Σ (a·s + b·f − t)²  over the finished points.
  double ss = 0, sf = 0, ff = 0, st = 0, ft = 0;
  for (const auto& p : finished_) {
    const double s = p.run.steps, f = p.run.flops, t = p.seconds;
    ss += s * s, sf += s * f, ff += f * f, st += s * t, ft += f * t;
  }
  auto sse = [&](double a, double b) {
    double e = 0;
    for (const auto& p : finished_) {
      const double r = a * p.run.steps + b * p.run.flops - p.seconds;
      e += r * r;
    }
    return e;
  };
  const double flops_only = ff > 0 ? ft / ff : 0;
  per_step_ = 0, per_flop_ = flops_only;
  const double det = ss * ff - sf * sf;
  if (!(det > 1e-9 * ss * ff)) return;  // one point, or steps ∝ FLOPs
  const double a = (st * ff - ft * sf) / det, b = (ft * ss - st * sf) / det;
  if (a >= 0 && b >= 0) {
    per_step_ = a, per_flop_ = b;
    return;
  }
  // The unconstrained optimum has a negative cost: the best fit with one
  // coefficient at zero.
  const double steps_only = ss > 0 ? st / ss : 0;
  if (sse(steps_only, 0) < sse(0, flops_only)) per_step_ = steps_only, per_flop_ = 0;
}

double RunTimeModel::predict(const RunCost& run) const {
  return per_step_ * run.steps + per_flop_ * run.flops;
}

double sweep_seconds_left(const RunTimeModel& model, const std::vector<RunCost>& queued,
                          const std::vector<RunningPoint>& running, int jobs) {
  double work = 0;
  for (const auto& q : queued) work += model.predict(q);
  for (const auto& r : running) work += std::max(0.0, model.predict(r.run) - r.elapsed_s);
  return work / std::max(1, jobs);
}

}  // namespace scalebed
