// Points from run directories (shared/spec/run-directory.md): one point per
// finished run (DONE present), with non-embedding parameters, tokens seen,
// the final validation loss and the FLOPs under a chosen convention, and the
// run's objective, noise, batch and LR as extra columns. The analysis stage
// reads files only: summary.json, never tensors.
#pragma once

#include <string>
#include <vector>

#include "points.h"

namespace scalebed::analysis {

// `path` is a run directory or a directory holding run directories (a
// sweep's output). convention: 6nd | palm | md (summary.json's flops.*).
// One point per finished run: its final validation loss. Unfinished runs are
// skipped and counted in `skipped`.
std::vector<Point> read_run_directories(const std::string& path, const std::string& convention,
                                        int* skipped = nullptr);

// A finished run's loss curve, smoothed without lag (smooth_curve), with what
// it takes to read a budget off it. metric "train": the logged train_metric
// (AR NLL or the diffusion ELBO on fresh training windows; the paper's
// curves); "val": val_loss at each evaluation (the same held-out windows and
// noise for every run, so sizes and budgets compare without the sampling
// noise of small training batches, and on the windows of the known floor).
struct RunCurve {
  Point final;                 // read_run_directories' point of the run
  double flops_per_token = 0;  // under the chosen convention
  double batch_tokens = 0;
  // The LR schedule as summary.json records it ("constant", "cosine", "wsd";
  // empty for runs written before it was recorded) and its warm-up.
  std::string schedule;
  double warmup_steps = 0;
  double last_step = 0;  // the run's length in steps
  // Logged losses (at the midpoint of the steps each line averages) and
  // their smoothed values.
  std::vector<double> steps, loss, smooth;
  // metrics.jsonl lines skipped: not JSON (or without a step and loss), and
  // steps at or before an earlier line's (two writers, a botched resume).
  int unparsable_lines = 0, repeated_steps = 0;
  // Only a constant-LR run's intermediate losses are those of a shorter run.
  bool constant_lr() const { return schedule == "constant"; }
};
std::vector<RunCurve> read_run_curves(const std::string& path, const std::string& convention,
                                      const std::string& metric = "train");

// A curve smoothed by a local linear fit in x = log step with weights
// exp(−|x_j − x_i|/log_width) (0.1: about ±10% of the step): unlike an EMA
// over logged points it does not lag a falling curve, it is unbiased at the
// ends for locally straight curves, and its window is narrow in log step where
// the curve bends most (early), wide where logged points are many (late).
std::vector<double> smooth_curve(const std::vector<double>& steps,
                                 const std::vector<double>& values, double log_width = 0.1);

// For the plots: training FLOPs (the chosen convention) and the smoothed loss.
struct TrainingCurve {
  std::string name;
  std::vector<double> flops, loss;
};
TrainingCurve plot_curve(const RunCurve& c);

}  // namespace scalebed::analysis
