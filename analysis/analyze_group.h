// One analysis of `analyze`: the settings its command line gives, and the
// whole pipeline for one set of points (one --group-by value, or all):
// Approaches 1-3 with their bootstraps, the held-out and robustness checks,
// hyperparameter laws, sensitivity, the console report and (with an output
// folder) the planning guide. analyze_main.cpp reads the command line and
// the input, groups the points and compares the groups.
#pragma once

#include <string>
#include <vector>

#include "compare.h"
#include "isoflop.h"
#include "points.h"
#include "runs.h"
#include "surface_fit.h"

namespace scalebed::analysis {

struct AnalyzeSettings {
  std::string convention = "6nd";
  std::string budgets = "auto";  // run directories: the budget grid, or "final"
  std::string curve = "train";   // the curve read at budgets: train | val
  double min_steps = 0;          // budgets are read from this step of a run on
  double max_loss = 0;           // --max-loss: points at or above it are left out (0: none)
  double max_batch_tokens = 0;   // --max-batch-tokens: larger batches are left out (0: none)
  std::string window_note;       // what the window left out, for the guide
  bool budgets_given = false;
  // How the points were made, for the guide: final losses / CSV (`method`),
  // or curves read at budgets (`from_curves`; described per group).
  std::string method;
  bool from_curves = false;
  size_t runs_left_out = 0;     // runs without a constant-LR curve
  std::string size = "params";  // params | m
  double floor = 0;             // --floor
  bool fix_floor = false;
  bool seed_weights = true;  // --no-seed-weights turns them off
  double max_extrapolation = 2;
  size_t drop = 0;
  int resamples = 1000;
  uint64_t seed = 1;
  double predict = 0, gpu_tflops = 989, mfu = 0.4;
  double at_params = 0, at_tokens = 0;   // --params N --tokens D: the loss of one model
  std::vector<ReferenceLaw> references;  // for this group (or all, ungrouped)
  std::vector<ReferenceHyperparameterLaw> reference_hyper;  // likewise
  std::vector<TrainingCurve> curves;                        // run directories' curves (all groups)
  SurfaceFitOptions fit_options;
  IsoflopOptions iso_options;
};

// A stage line on stderr ("[analyze 3.1s] Approach 3: ..."), so that a long
// analysis says what it is doing; the report goes to stdout.
void stage(const std::string& what);

// Fits, prints and (with out_dir) writes the guide for one set of points;
// returns the laws for the comparison across groups.
GroupLaws analyze_points(const std::vector<Point>& all_points, const std::string& input,
                         bool from_runs, int unfinished, const AnalyzeSettings& st,
                         const std::string& out_dir);

}  // namespace scalebed::analysis
