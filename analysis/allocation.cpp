// Allocation at a budget, with bootstrap intervals.
#include "allocation.h"

namespace scalebed::analysis {

Allocation allocate(const SurfaceLaw& law, const SurfaceBootstrap& boot, double flops,
                    double fitted_min_flops, double fitted_max_flops, double level) {
  Allocation a;
  a.flops = flops;
  a.n_opt = law.n_opt(flops);
  a.d_opt = law.d_opt(flops);
  a.tokens_per_param = a.d_opt / a.n_opt;
  a.loss = law.predict(a.n_opt, a.d_opt);
  a.extrapolated = flops < fitted_min_flops || flops > fitted_max_flops;
  std::vector<double> n, d, tpp, loss;
  for (const SurfaceLaw& l : boot.laws) {
    n.push_back(l.n_opt(flops));
    d.push_back(l.d_opt(flops));
    tpp.push_back(d.back() / n.back());
    loss.push_back(l.predict(n.back(), d.back()));
  }
  if (!boot.laws.empty()) {
    a.n_opt_ci = percentile_interval(n, level);
    a.d_opt_ci = percentile_interval(d, level);
    a.tokens_per_param_ci = percentile_interval(tpp, level);
    a.loss_ci = percentile_interval(loss, level);
    // Without the fit's residuals there is no scatter to add.
    a.loss_pi =
        boot.log_residuals.empty() ? a.loss_ci : prediction_interval(boot, a.n_opt, a.d_opt, level);
  }
  return a;
}

}  // namespace scalebed::analysis
