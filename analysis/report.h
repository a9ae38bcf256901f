// The planning guide: report.md and report.html (one self-contained page with
// inline SVG), the plots as .svg files, fit.json and allocation.csv, from the
// fitted laws. What a practitioner acts on: the laws with intervals and their
// validity range, the allocation over budgets in FLOPs and GPU-hours, budget
// scenarios, trade-offs and warnings.
#pragma once

#include <string>
#include <vector>

#include "allocation.h"
#include "compare.h"
#include "envelope.h"
#include "holdout.h"
#include "hyperparams.h"
#include "isoflop.h"
#include "robustness.h"
#include "runs.h"
#include "seed_weights.h"
#include "sensitivity.h"
#include "surface_fit.h"
#include "validity.h"

namespace scalebed::analysis {

struct ReportInput {
  std::string source;             // what was read (CSV path or runs directory)
  std::string convention;         // FLOP convention of the points
  std::string method;             // how the points were made (curves at budgets, final losses)
  std::string size_symbol = "N";  // "N" (non-embedding parameters) or "M" (FLOPs per token)
  std::string size_label = "non-embedding parameters N";
  Validity validity;         // known floor and extrapolation limits of printed losses
  bool floor_fixed = false;  // Approach 3's E held at the floor (--fix-floor)
  std::vector<Point> points;
  SeedWeights seed_weights;  // how the surface fit weighted the points
  SurfaceFit fit;
  SurfaceFit fit_at_floor;    // E held at the known floor (objective 0 when not fitted)
  std::string profiles_note;  // which budgets made IsoFLOP profiles
  SurfaceBootstrap boot;
  IsoflopResult isoflop;
  IsoflopBootstrap isoflop_boot;
  EnvelopeResult envelope;
  EnvelopeBootstrap envelope_boot;
  HyperparameterLaws hyper;
  SurfaceFit varpro;           // variable projection's optimum, a cross-check of `fit`
  HoldoutCheck holdout;        // the fits without the largest budget, asked for it
  RobustnessCheck robustness;  // Approach 3 under other choices (empty when not allocatable)
  std::vector<Sensitivity> sensitivity;
  std::vector<ReferenceLaw> references;  // published laws to read this fit against
  std::vector<ReferenceHyperparameterLaw> reference_hyper;  // published B*/η* laws
  std::vector<TrainingCurve> curves;  // run directories only: each run's smoothed curve
  double gpu_tflops = 989;  // peak dense bf16 TFLOP/s of the GPU used for GPU-hours (H100 SXM)
  double mfu = 0.4;         // model FLOPs utilisation assumed for GPU-hours
  int resamples = 0;
};

// The allocation rows of the report (1e17 … 1e25 FLOPs).
std::vector<Allocation> allocation_table(const ReportInput& in);

// Writes report.md, report.html, loss_vs_flops.svg, isoflop.svg, n_opt.svg,
// fit.json and allocation.csv into `dir` (created), each atomically.
void write_report(const std::string& dir, const ReportInput& in);

// R² of the Approach-3 surface on log loss over the points.
// The FLOPs, sizes and token counts the points span (what the laws were
// fitted on), for the guide and fit.json.
struct FittedRange {
  double c_min = 1e300, c_max = 0, n_min = 1e300, n_max = 0, d_min = 1e300, d_max = 0;
};
FittedRange fitted_range(const std::vector<Point>& points);

double surface_r2(const ReportInput& in);

// fit.json and allocation.csv alone (report_data.cpp); write_report calls it.
void write_report_data(const std::string& dir, const ReportInput& in,
                       const std::vector<Allocation>& rows);

}  // namespace scalebed::analysis
