// Time left in a local sweep, from how long its finished points took. A run
// costs time per optimizer step (framework and launch overhead, which rule
// small batches) and per FLOP (arithmetic, which rules large models), so
//   seconds ≈ per_step · steps + per_flop · FLOPs,
// fitted by least squares, both coefficients ≥ 0, to the points finished so
// far. On sweeps/cpu_small_batch.yaml (batches of 1-16 sequences, longest
// first) a FLOPs-only estimate said 1h00m with 24 minutes left, since the
// first runs to finish, batch 1, run far below the FLOP rate; this model,
// fitted to the same six finished points, said 19 minutes.
#pragma once

#include <vector>

namespace scalebed {

struct RunCost {
  double steps = 0, flops = 0;
};

class RunTimeModel {
 public:
  void add_finished(const RunCost& run, double seconds);
  bool ready() const { return !finished_.empty(); }
  // Predicted seconds for a run. With one finished point, or points whose
  // steps and FLOPs are proportional (nothing tells the two costs apart), all
  // of the time goes to FLOPs.
  double predict(const RunCost& run) const;
  double per_step() const { return per_step_; }
  double per_flop() const { return per_flop_; }

 private:
  void fit();
  struct Finished {
    RunCost run;
    double seconds;
  };
  std::vector<Finished> finished_;
  double per_step_ = 0, per_flop_ = 0;
};

struct RunningPoint {
  RunCost run;
  double elapsed_s = 0;
};

// Seconds until the queued and running points are done on `jobs` slots: the
// predicted time of the queued points plus what the running ones have left,
// shared over the slots.
double sweep_seconds_left(const RunTimeModel& model, const std::vector<RunCost>& queued,
                          const std::vector<RunningPoint>& running, int jobs);

}  // namespace scalebed
