// Hyperparameter laws (analysis.md) from a sweep that varies batch and LR:
//   B*: per (model size, target loss), the batch that reaches the target in
//       the fewest tokens: a parabola of log D_to(target) over log B, where
//       D_to is read off each setting's loss curve (the best LR at each
//       batch; runs of one setting and several lengths joined into one).
//       Then B* = k·D^e through the (D*, B*) vertices (paper: e ≈ 0.82).
//   η*: per (model size, batch, run length), a parabola of the final loss
//       over log LR;
//       then η* = k·B^e (paper: e ≈ 0.34) and η* = k·D^e.
// Runs are told apart by the `name` column; batch by `batch_tokens`, LR by
// `base_lr`. Curves need several points per run (analyze --curve-points).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "isoflop.h"
#include "surface_fit.h"

namespace scalebed::analysis {

struct HyperOptimum {
  double x = 0;     // D* for the batch law; B or D for the LR laws
  double best = 0;  // B* or η*
};

struct HyperLaw {
  bool fitted = false;
  PowerLaw law;          // best = k·x^exponent
  Interval exponent_ci;  // bootstrap over the vertices
  std::vector<HyperOptimum> optima;
  int refused = 0;   // parabolas without an interior minimum
  std::string note;  // why not fitted
};

struct HyperparameterLaws {
  bool batch_varied = false, lr_varied = false;
  HyperLaw batch_vs_tokens, lr_vs_batch, lr_vs_tokens;
};

HyperparameterLaws fit_hyperparameter_laws(const std::vector<Point>& points, int resamples,
                                           uint64_t seed);

// How to train a run of `tokens` tokens (a compute-optimal D_opt): its batch
// (tokens), base LR and steps, each with where it comes from. The batch from
// the sweep's B* law where it fitted one, else the diffusion paper's published
// B* = 10^-2.4·D^0.8225 (labelled borrowed); the LR from the sweep's η* law
// (against the batch, else against tokens), else the sweep's one LR when it
// used one (not a law), else none (lr 0).
// The diffusion paper's batch law B* = 10^-2.4·D^0.8225 tokens (the one the
// allocation table borrows; analysis/references/diffusion_paper.json holds it
// too, and tests/test_guide_analyses.cpp keeps the two equal).
constexpr double kPaperBatchLawLog10K = -2.4, kPaperBatchLawExponent = 0.8225;

struct Recipe {
  double batch_tokens = 0, lr = 0, steps = 0;
  std::string batch_source, lr_source;
};
Recipe recipe_for(const HyperparameterLaws& h, const std::vector<Point>& points, double tokens);

}  // namespace scalebed::analysis
