// bench_surface_fit: wall time of Approach 3 on a points CSV: the 4,500-start
// L-BFGS fit plus N bootstrap refits (analysis.md), with the fitted law, and
// the variable-projection fit (one start) beside it, and the screened
// multi-start (the default: a short run from every start, the best `polish`
// to convergence) against the exhaustive one (every start to convergence),
// side by side with their ratio.
//   bench_surface_fit POINTS.csv [--drop-highest 5] [--bootstrap 1000] [--threads 2]
#include <chrono>
#include <cstdio>
#include <iostream>
#include <string>

#include "surface_fit.h"
#include "util/error.h"
#include "util/parse.h"

int main(int argc, char** argv) {
  using namespace scalebed::analysis;
  if (argc < 2) {
    std::cerr
        << "usage: bench_surface_fit POINTS.csv [--drop-highest K] [--bootstrap N] [--threads T]\n";
    return 2;
  }
  size_t drop = 5;
  int resamples = 1000;
  SurfaceFitOptions o;
  try {
    for (int i = 2; i + 1 < argc; i += 2) {
      const std::string a = argv[i];
      if (a == "--drop-highest")
        drop = static_cast<size_t>(scalebed::integer_flag(a, argv[i + 1], 0));
      else if (a == "--bootstrap")
        resamples = static_cast<int>(scalebed::integer_flag(a, argv[i + 1], 0, 1000000));
      else if (a == "--threads")
        o.threads = static_cast<int>(scalebed::integer_flag(a, argv[i + 1], 1, 1024));
      else {
        std::cerr << "unknown option " << a << "\n";
        return 2;
      }
    }
  } catch (const scalebed::UsageError& e) {
    std::cerr << "bench_surface_fit: " << e.what() << "\n";
    return 2;
  }
  try {
    auto points = drop_highest_losses(read_points_csv(argv[1]), drop);
    using Clock = std::chrono::steady_clock;
    const auto t0 = Clock::now();
    const SurfaceFit fit = fit_surface(points, o);
    const auto t1 = Clock::now();
    const SurfaceBootstrap boot = bootstrap_surface(points, fit, resamples, 1, 0.95, o);
    const auto t2 = Clock::now();
    const double fit_s = std::chrono::duration<double>(t1 - t0).count();
    const double boot_s = std::chrono::duration<double>(t2 - t1).count();
    std::printf("points        %zu (dropped the %zu highest losses)\n", points.size(), drop);
    std::printf("fit           %d starts in %.2f s (threads %d); objective %.6g, |grad| %.2g%s\n",
                fit.starts, fit_s, o.threads, fit.objective, fit.gradient_norm,
                fit.optimum_at_grid_edge ? ", OPTIMUM AT GRID EDGE" : "");
    std::printf("law           E %.4f  A %.2f  B %.2f  alpha %.4f  beta %.4f\n", fit.law.E,
                fit.law.A, fit.law.B, fit.law.alpha, fit.law.beta);
    std::printf("bootstrap     %d refits in %.2f s\n", resamples, boot_s);
    std::printf("95%% CI        E [%.3f, %.3f]  A [%.1f, %.1f]  B [%.1f, %.1f]\n", boot.E.low,
                boot.E.high, boot.A.low, boot.A.high, boot.B.low, boot.B.high);
    std::printf(
        "              alpha [%.4f, %.4f]  beta [%.4f, %.4f]  a=beta/(alpha+beta) [%.4f, %.4f]\n",
        boot.alpha.low, boot.alpha.high, boot.beta.low, boot.beta.high, boot.n_exponent.low,
        boot.n_exponent.high);
    std::printf("total         %.2f s\n", fit_s + boot_s);
    SurfaceFitOptions exhaustive = o;
    exhaustive.polish = 0;
    const auto te = Clock::now();
    const SurfaceFit all = fit_surface(points, exhaustive);
    const double all_s = std::chrono::duration<double>(Clock::now() - te).count();
    std::printf(
        "exhaustive    %d starts to convergence in %.2f s; objective %.6g; E %.4f  A %.2f  "
        "B %.2f  alpha %.4f  beta %.4f\n",
        all.starts, all_s, all.objective, all.law.E, all.law.A, all.law.B, all.law.alpha,
        all.law.beta);
    std::printf("screened      %d short runs, %d polished: %.2f s, %.1fx faster than exhaustive\n",
                fit.starts, o.polish, fit_s, all_s / fit_s);
    const auto t3 = Clock::now();
    const SurfaceFit vp = fit_surface_varpro(points, o);
    const double vp_s = std::chrono::duration<double>(Clock::now() - t3).count();
    std::printf(
        "varpro        %.2f s; objective %.6g (multi-start %.6g); E %.4f  A %.2f  B %.2f  "
        "alpha %.4f  beta %.4f\n",
        vp_s, vp.objective, fit.objective, vp.law.E, vp.law.A, vp.law.B, vp.law.alpha, vp.law.beta);
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
