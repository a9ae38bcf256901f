// Compute-optimal allocation at a FLOP budget from a fitted surface law and
// its bootstrap: N_opt, D_opt, tokens per parameter and the predicted loss,
// each with a percentile interval (the loss also with a prediction interval
// for a single run), and whether the budget extrapolates beyond the FLOPs the
// law was fitted on.
#pragma once

#include <vector>

#include "surface_fit.h"

namespace scalebed::analysis {

struct Allocation {
  double flops = 0;
  double n_opt = 0, d_opt = 0, tokens_per_param = 0, loss = 0;
  Interval n_opt_ci, d_opt_ci, tokens_per_param_ci, loss_ci;
  // Where one run trained at (n_opt, d_opt) will land: the law's uncertainty
  // and the residual scatter of single runs around it (prediction_interval).
  Interval loss_pi;
  bool extrapolated = false;  // outside [fitted_min_flops, fitted_max_flops]
};

Allocation allocate(const SurfaceLaw& law, const SurfaceBootstrap& boot, double flops,
                    double fitted_min_flops, double fitted_max_flops, double level = 0.95);

}  // namespace scalebed::analysis
