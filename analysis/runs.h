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
// Unfinished runs are skipped and counted in `skipped`.
// curve_points > 0: instead of its final loss, each run contributes that many
// points read off its training curve (metrics.jsonl train_metric, EMA γ 0.96,
// fitted by L(S) = C + B·S^−b after the first 10% of steps) at log-spaced
// steps from 25% to 100% of its length. Valid for constant-LR runs whose
// tokens are seen once (then the training loss estimates the held-out loss).
std::vector<Point> read_run_directories(const std::string& path, const std::string& convention,
                                        int* skipped = nullptr, int curve_points = 0);

// A finished run's training curve for plots: training FLOPs (the chosen
// convention) and the EMA-smoothed train_metric at each logged step.
struct TrainingCurve {
  std::string name;
  std::vector<double> flops, loss;
};
std::vector<TrainingCurve> read_training_curves(const std::string& path,
                                                const std::string& convention);

}  // namespace scalebed::analysis
