// `analyze`: fits compute-optimal laws to scaling-law points and prints the
// allocation they imply. Input: a CSV of params,tokens,loss[,flops] rows, or
// run directories (a run, or a folder of runs), whose constant-LR training
// curves are read at a grid of FLOP budgets (budgets.h), or whose final
// losses are the points.
//
//   analyze POINTS.csv|RUNS_DIR [--flops 6nd|palm|md] [--budgets SPEC]
//           [--size params|m] [--floor L] [--fix-floor] [--out DIR] ...
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>

#include "budgets.h"
#include "compare.h"
#include "doc.h"
#include "holdout.h"
#include "report.h"
#include "robustness.h"
#include "runs.h"
#include "seed_weights.h"
#include "util/error.h"
#include "util/parse.h"
#include "validity.h"

namespace {
using namespace scalebed::analysis;

const char* kUsage = R"(analyze: compute-optimal scaling laws from (params, tokens, loss) points

usage: analyze POINTS.csv|RUNS_DIR [options]
  --flops 6nd|palm|md      run directories: which FLOP count of summary.json to use (default 6nd)
  --budgets SPEC           run directories: the IsoFLOP budgets read off constant-LR training
                           curves (the diffusion paper's method): auto (default: 8 per decade
                           over every readable step), K/decade, or LO:HI:COUNT; at each
                           (budget, size) the best batch and LR count, and profiles are fitted
                           where five sizes (or all of fewer) were read. `final`: one point per
                           run, its final loss (runs of fixed length or a decaying LR; also
                           chosen when the runs are not all constant-LR)
  --curve train|val        the curve read at budgets: the smoothed training metric (default, the
                           paper's), or the held-out loss at each evaluation (same windows and
                           noise for every run: less noise when training batches are small;
                           needs runs that evaluate often, e.g. train.eval_every 50)
  --min-steps K            curves: read budgets only from step K of a run on (besides 2.5x its
                           warm-up), leaving out the early steps of short runs
  --max-loss L             leave out points whose loss is L or more (the diffusion paper's fits:
                           4; its runs' early, high-loss budgets)
  --max-batch-tokens B     leave out points of runs whose batch exceeds B tokens (the paper's
                           fits: batch < 1024 sequences of 2048, i.e. 1048576)
  --size params|m          what "model size" is in every approach: non-embedding parameters N
                           (default), or m: FLOPs per token M under --flops (with --flops md the
                           paper's M = 72Ld^2 + 12LdT, so that C = M*D)
  --floor L                a known or assumed irreducible loss (default: the synthetic source's
                           exact optimal loss, when the runs recorded it). No loss below it is
                           printed as a prediction
  --fix-floor              hold Approach 3's E at that floor and fit A, B, alpha, beta
  --no-seed-weights        fit Approach 3 unweighted (default: when some setting was run with
                           several seeds, each point is weighted by 1/variance of its log loss
                           from the seed spread, shrunk towards the pooled spread)
  --max-extrapolation K    decades beyond the fitted FLOPs up to which floor-free power laws
                           (Approaches 1 and 2) print losses (default 2)
  --drop-highest K         drop the K highest-loss points first (Epoch's rule for Chinchilla: 5)
  --bootstrap N            bootstrap resamples for intervals (default 1000; at least 100)
  --seed S                 bootstrap seed (default 1)
  --isoflop-tolerance T    final losses: points within T decades of FLOPs form one IsoFLOP
                           budget (default 0.05, at most 0.1); a budget never spans more than
                           4T decades (chained neighbours are split at their widest gaps)
  --threads T              threads for the multi-start fit and bootstrap (default 2)
  --predict C              print the allocation at a budget of C FLOPs only
  --params N --tokens D    print the predicted loss of that model (and its budget's optimum)
  --group-by KEY[,KEY]     one analysis per value of a column / run field (objective, noise, ...);
                           with --out, each goes to DIR/KEY-VALUE/
  --out DIR                write the planning guide: report.md, report.html, plots (.svg),
                           fit.json, allocation.csv
  --reference FILE         published laws to compare with (JSON, e.g. analysis/references/
                           diffusion_paper.json); with --group-by and --out they are overlaid
                           in DIR/comparison.html
  --reference-cooldown     divide the reference losses by the diffusion paper's cooldown factor
                           1.0245 (+-0.00138: a constant-LR run's loss over the same run cooled
                           down; cooldown_ablations.ipynb), to compare runs with a decaying LR
  --gpu-tflops P --mfu M   GPU-hours in the guide at P peak TFLOP/s and MFU M (default 989, 0.4)

The CSV needs a header with params, tokens and loss (flops optional; else 6ND).
Approach 3: L(N,D) = E + A/N^alpha + B/D^beta by Huber loss in log space, 4,500 L-BFGS starts
(screened: 20 iterations each, the best 100 to convergence, on a subset of 1,000 points when
there are more; the best 5 finished on every point by Newton's method).
Approach 2: IsoFLOP parabolas in log N, refused without an interior minimum.
Approach 1: the Pareto frontier of loss vs FLOPs, with L(C) = E + A*C^-alpha on it.
Allocations use C = k*N*D, k = the points' median FLOPs per parameter and token (6 for 6ND).
)";

struct Settings {
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

// How points read off curves were made, counted for this group's points.
std::string curve_method(const Settings& st, const std::vector<Point>& points) {
  std::set<std::string> runs, budgets;
  for (const auto& p : points) {
    if (auto n = p.extra.find("name"); n != p.extra.end()) runs.insert(n->second);
    if (auto b = p.extra.find("budget"); b != p.extra.end()) budgets.insert(b->second);
  }
  std::string m = "IsoFLOP budgets read off " + std::to_string(runs.size()) +
                  " constant-LR training curves (smoothed " +
                  (st.curve == "val" ? "held-out loss" : "train_metric") + ", read from " +
                  fmt("%.3g", kWarmupFactor) + "x warm-up" +
                  (st.min_steps > 0 ? " and step " + fmt("%.0f", st.min_steps) : "") + " on) at " +
                  std::to_string(budgets.size()) + " budgets (--budgets " + st.budgets +
                  "), the best batch and LR per (budget, size)";
  if (st.runs_left_out > 0) {
    m += "; " + std::to_string(st.runs_left_out) + " run(s) without a constant-LR curve left out";
  }
  return m;
}

// Fits, prints and (with out_dir) writes the guide for one set of points;
// returns the laws for the comparison across groups. `all_points` may hold
// several points per (budget, size) (every batch and LR read off the curves):
// the laws are fitted on the best of each, the hyperparameter laws and the
// sensitivity on all of them.
// Stage lines on stderr ("[analyze 3.1s] Approach 3: ..."), so that a long
// analysis says what it is doing; the report goes to stdout.
void stage(const std::string& what) {
  static const auto start = std::chrono::steady_clock::now();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "[analyze %.1fs] %s\n", s, what.c_str());
}

GroupLaws analyze_points(const std::vector<Point>& all_points, const std::string& input,
                         bool from_runs, int unfinished, const Settings& st,
                         const std::string& out_dir) {
  const std::string& convention = st.convention;
  const size_t drop = st.drop;
  const int resamples = st.resamples;
  const uint64_t seed = st.seed;
  const double predict = st.predict, gpu_tflops = st.gpu_tflops, mfu = st.mfu;
  std::vector<Point> points = best_per_budget_and_size(all_points);
  SeedWeights seed_weights;
  if (st.seed_weights) {
    seed_weights = apply_seed_weights(points);
  } else {
    seed_weights.disabled = true;
  }
  const std::string method =
      (st.from_curves ? curve_method(st, all_points) : st.method) + st.window_note;
  const bool by_m = st.size == "m";
  const char* size_symbol = by_m ? "M" : "N";
  if (points.size() < 5) {
    throw AnalysisError(input + ": only " + std::to_string(points.size()) +
                        " points; a 5-parameter law needs more");
  }
  double c_min = 1e300, c_max = 0;
  for (const auto& p : points) {
    c_min = std::min(c_min, p.flops);
    c_max = std::max(c_max, p.flops);
  }
  Validity validity;
  validity.c_min = c_min, validity.c_max = c_max, validity.max_decades = st.max_extrapolation;
  if (st.floor > 0) {
    validity.floor = st.floor, validity.floor_source = "given with --floor";
  } else if (const double f = known_floor(points); f > 0) {
    validity.floor = f;
    validity.floor_source = "the synthetic source's exact optimal loss on the held-out windows";
  }
  SurfaceFitOptions fit_options = st.fit_options;
  fit_options.progress = [](const std::string& line) { stage("  " + line); };
  if (st.fix_floor) {
    if (!(validity.floor > 0)) {
      throw AnalysisError(input +
                          ": --fix-floor needs a floor: the runs did not record one; "
                          "give it with --floor");
    }
    fit_options.fixed_E = validity.floor;
  }
  const IsoflopOptions& iso_options = st.iso_options;
  stage("Approach 3: " + std::to_string(points.size()) + " points, 4,500 starts");
  SurfaceFit fit = fit_surface(points, fit_options);
  // Variable projection as a cross-check; it wins when it finds a lower objective.
  const SurfaceFit varpro = fit_surface_varpro(points, fit_options);
  const bool varpro_better = varpro.objective < fit.objective * (1 - 1e-9);
  if (varpro_better) {
    const bool edge = fit.optimum_at_grid_edge;
    const int starts = fit.starts;
    std::vector<SurfaceLaw> basins = fit.basins;
    basins.insert(basins.begin(), varpro.law);
    fit = varpro;
    fit.optimum_at_grid_edge = edge, fit.starts = starts, fit.basins = basins;
  }
  stage("Approach 3: " + std::to_string(resamples) + " bootstrap refits");
  const SurfaceBootstrap boot = bootstrap_surface(points, fit, resamples, seed, 0.95, fit_options);
  fit.law.unidentified = surface_terms_unidentified(points);

  std::string not_allocatable;
  const bool allocatable = fit.law.allocatable(&not_allocatable);
  // The law's loss, [its 95% interval], {95% prediction for one run}.
  auto loss_text = [&](double c, double loss, const Interval* ci, bool has_floor,
                       const Interval* pi = nullptr) {
    const std::string why = validity.refusal(c, loss, has_floor);
    if (!why.empty()) return "loss not printed: " + why;
    std::string t = "loss " + fmt("%.4f", loss);
    if (ci) t += " [" + validity.interval(ci->low, ci->high) + "]";
    if (pi) t += " {one run: " + validity.interval(pi->low, pi->high) + "}";
    return t;
  };
  if (st.at_params > 0) {
    // One given model: its predicted loss, and how far it is from the
    // compute-optimal loss at its own budget.
    const double n = st.at_params, d = st.at_tokens, c = fit.law.k * n * d;
    std::vector<double> losses;
    for (const auto& l : boot.laws) losses.push_back(l.predict(n, d));
    const Interval ci = percentile_interval(losses, 0.95);
    const Interval pi = prediction_interval(boot, n, d, 0.95);
    std::printf("%s %.4g, D %.4g (C = %.3g*%s*D = %.3g FLOPs, %s): %s\n", size_symbol, n, d,
                fit.law.k, size_symbol, c, validity.where(c).c_str(),
                loss_text(c, fit.law.predict(n, d), &ci, true, &pi).c_str());
    if (allocatable) {
      const Allocation a = allocate(fit.law, boot, c, c_min, c_max);
      std::printf("compute-optimal at that budget: %s_opt %.4g, D_opt %.4g, %s\n", size_symbol,
                  a.n_opt, a.d_opt, loss_text(c, a.loss, nullptr, true).c_str());
    }
    return GroupLaws{"", fit.law, {}, c_min, c_max};
  }
  if (predict > 0) {
    if (!allocatable) throw AnalysisError(input + ": no allocation: " + not_allocatable);
    GroupLaws laws{"", fit.law, {}, c_min, c_max};
    const Allocation a = allocate(fit.law, boot, predict, c_min, c_max);
    std::printf(
        "C %.3g FLOPs (C = %.3g*%s*D, %s): %s_opt %.4g [%.4g, %.4g], D_opt %.4g [%.4g, %.4g], "
        "%.1f tokens/%s, %s\n",
        a.flops, fit.law.k, size_symbol, validity.where(a.flops).c_str(), size_symbol, a.n_opt,
        a.n_opt_ci.low, a.n_opt_ci.high, a.d_opt, a.d_opt_ci.low, a.d_opt_ci.high,
        a.tokens_per_param, by_m ? "FLOP" : "param",
        loss_text(a.flops, a.loss, &a.loss_ci, true, &a.loss_pi).c_str());
    return laws;
  }

  std::printf("points: %zu from %s (dropped the %zu highest losses); FLOPs %.3g to %.3g%s\n",
              points.size(), input.c_str(), drop, c_min, c_max,
              from_runs ? (" (" + convention + " convention)").c_str() : "");
  std::printf("method: %s\n", method.c_str());
  if (by_m)
    std::printf("size: M, FLOPs per token (%s convention), so C = M*D\n", convention.c_str());
  if (unfinished > 0) std::printf("skipped %d unfinished run(s) (no DONE)\n", unfinished);
  if (validity.floor > 0) {
    std::printf("known floor: %.4f nats/token (%s)\n", validity.floor,
                validity.floor_source.c_str());
  }
  std::printf("\n");
  std::printf(
      "Approach 3: L(%s, D) = E + A/%s^alpha + B/D^beta  (%d starts, %d bootstrap resamples, "
      "95%%)\n",
      size_symbol, size_symbol, fit.starts, resamples);
  if (seed_weights.applied) std::printf("  %s\n", seed_weights.describe().c_str());
  std::printf("  E     %9.4f  [%.4f, %.4f]%s\n", fit.law.E, boot.E.low, boot.E.high,
              st.fix_floor ? "  (held at the floor: --fix-floor)" : "");
  // With a known floor, the fit that holds E there says whether the points
  // contradict it (a much worse objective) and what the exponents become.
  SurfaceFit at_floor;
  if (validity.floor > 0 && !st.fix_floor) {
    SurfaceFitOptions held = fit_options;
    held.fixed_E = validity.floor;
    at_floor = fit_surface_varpro(points, held);
    std::printf(
        "        known floor %.4f: E is %+.1f%% from it; held there: alpha %.4f, beta %.4f, "
        "%s_opt ~ C^%.4f, objective %.6g (free %.6g)\n",
        validity.floor, 100 * (fit.law.E / validity.floor - 1), at_floor.law.alpha,
        at_floor.law.beta, size_symbol, at_floor.law.n_exponent(), at_floor.objective,
        fit.objective);
  }
  std::printf("  A     %9.4g  [%.4g, %.4g]\n", fit.law.A, boot.A.low, boot.A.high);
  std::printf("  B     %9.4g  [%.4g, %.4g]\n", fit.law.B, boot.B.low, boot.B.high);
  std::printf("  alpha %9.4f  [%.4f, %.4f]\n", fit.law.alpha, boot.alpha.low, boot.alpha.high);
  std::printf("  beta  %9.4f  [%.4f, %.4f]\n", fit.law.beta, boot.beta.low, boot.beta.high);
  std::printf("  %s_opt ~ C^%.4f [%.4f, %.4f], D_opt ~ C^%.4f\n", size_symbol, fit.law.n_exponent(),
              boot.n_exponent.low, boot.n_exponent.high, 1 - fit.law.n_exponent());
  if (!fit.law.unidentified.empty()) {
    std::printf("  NOT DETERMINED: %s (no allocation from this surface)\n",
                fit.law.unidentified.c_str());
  }
  for (const auto& c : undetermined_coefficients(boot)) {
    std::printf("  undetermined by these points: %s\n", c.c_str());
  }
  std::printf(
      "  variable projection: alpha %.4f, beta %.4f, E %.4f, objective %.6g vs %.6g "
      "multi-start%s\n",
      varpro.law.alpha, varpro.law.beta, varpro.law.E, varpro.objective,
      varpro_better ? varpro.objective : fit.objective,
      varpro_better ? " (lower: its optimum is used)" : "");
  if (fit.optimum_at_grid_edge) {
    std::printf("  WARNING: the optimum lies on the edge of the start grid; widen the grid\n");
  }

  // IsoFLOP profiles at the budgets where enough sizes were read.
  size_t profile_count = 0, thin_budgets = 0;
  const std::vector<Point> profile_points = profile_budgets(points, &profile_count, &thin_budgets);
  stage("Approach 2: IsoFLOP profiles and " + std::to_string(resamples) + " bootstrap refits");
  const IsoflopResult iso = fit_isoflop(profile_points, iso_options);
  const IsoflopBootstrap iso_boot =
      iso.fitted ? bootstrap_isoflop(profile_points, iso_options, resamples, seed)
                 : IsoflopBootstrap{};
  std::string profiles_note;  // which budgets made profiles, for stdout and the guide
  if (read_off_curves(points)) {
    profiles_note = std::to_string(profile_count) +
                    " budgets where five sizes (or all) were read make the profiles" +
                    (thin_budgets > 0 ? "; " + std::to_string(thin_budgets) +
                                            " with fewer inform Approaches 1 and 3 only"
                                      : std::string());
    std::printf("\nApproach 2: IsoFLOP parabolas in log %s at budgets read off the curves: %s\n",
                size_symbol, profiles_note.c_str());
  } else {
    std::printf("\nApproach 2: IsoFLOP parabolas in log %s (budgets within %.3g decades)\n",
                size_symbol, iso_options.group_tolerance);
  }
  for (const auto& p : iso.profiles) {
    if (p.accepted) {
      std::printf("  C %.3g: %d points, %s_opt %.4g, loss %.4f\n", p.flops, p.points, size_symbol,
                  std::exp(p.log_n_opt), p.loss_opt);
    } else {
      std::printf("  C %.3g: %d points, refused: %s\n", p.flops, p.points, p.refusal.c_str());
    }
  }
  if (iso.fitted) {
    std::printf(
        "  %s_opt = %.4g * C^%.4f (R^2 %.4f); D_opt = %.4g * C^%.4f; L_opt = %.4g * C^%.4f\n",
        size_symbol, iso.n_opt.k, iso.n_opt.exponent, iso.n_opt.r2, iso.d_opt.k, iso.d_opt.exponent,
        iso.loss_opt.k, iso.loss_opt.exponent);
    std::printf(
        "  95%% intervals: %s_opt exponent [%.4f, %.4f], L_opt exponent [%.4f, %.4f] "
        "(%zu refits, %d without laws)\n",
        size_symbol, iso_boot.n_exponent_low, iso_boot.n_exponent_high, iso_boot.loss_exponent_low,
        iso_boot.loss_exponent_high, iso_boot.n_opt.size(), iso_boot.skipped);
  } else {
    std::printf("  %s\n", iso.note.c_str());
  }

  stage("held-out check: the fits without the largest budget");
  const HoldoutCheck holdout =
      holdout_largest_budget(points, profile_points, fit.law, fit_options, iso_options);
  std::printf("\n%s\n", describe_holdout(holdout, size_symbol).c_str());

  RobustnessCheck robustness;
  if (allocatable) {
    stage("robustness: Approach 3 refitted under other choices of the fit");
    robustness = check_robustness(points, fit, fit_options, c_max);
    std::printf("\n%s\n", describe_robustness(robustness, boot.n_exponent, size_symbol).c_str());
  }

  stage("Approach 1: frontier and " + std::to_string(resamples) + " bootstrap refits");
  const EnvelopeResult envelope = fit_envelope(points, validity.floor);
  const EnvelopeBootstrap envelope_boot =
      envelope.fitted ? bootstrap_envelope(points, resamples, seed, 0.95, validity.floor)
                      : EnvelopeBootstrap{};
  std::printf("\nApproach 1: lower envelope of loss vs FLOPs\n");
  if (envelope.fitted) {
    std::printf(
        "  %zu frontier points; L(C) = %.4f + %.4g * C^-%.4f; %s_opt ~ C^%.4f, D_opt ~ C^%.4f\n",
        envelope.frontier.size(), envelope.E, envelope.A, envelope.alpha, size_symbol,
        envelope.n_opt.exponent, envelope.d_opt.exponent);
    std::printf("  95%% intervals: alpha [%.4f, %.4f], %s_opt exponent [%.4f, %.4f] (%d refits)\n",
                envelope_boot.alpha_low, envelope_boot.alpha_high, size_symbol,
                envelope_boot.n_exponent_low, envelope_boot.n_exponent_high, envelope_boot.refits);
    if (!envelope.note.empty()) std::printf("  %s\n", envelope.note.c_str());
  } else {
    std::printf("  %s\n", envelope.note.c_str());
  }
  const HyperparameterLaws hyper = fit_hyperparameter_laws(all_points, resamples, seed);
  std::printf("\nHyperparameter laws (parabola vertices; best = k*x^e)\n");
  for (const auto& [name, h] :
       std::vector<std::pair<std::string, const HyperLaw*>>{{"B* vs D  ", &hyper.batch_vs_tokens},
                                                            {"lr* vs B ", &hyper.lr_vs_batch},
                                                            {"lr* vs D ", &hyper.lr_vs_tokens}}) {
    if (h->fitted) {
      std::printf("  %s k %.4g, e %.4f [%.4f, %.4f], %zu vertices, %d refused\n", name.c_str(),
                  h->law.k, h->law.exponent, h->exponent_ci.low, h->exponent_ci.high,
                  h->optima.size(), h->refused);
    } else {
      std::printf("  %s not fitted: %s\n", name.c_str(), h->note.c_str());
    }
  }
  const std::vector<Sensitivity> sens = sensitivity(all_points, iso_options.group_tolerance);
  std::printf("\nSensitivity (loss spread over a choice, the others held fixed)\n");
  for (const auto& x : sens) {
    std::printf("  %-7s median %.4f, largest %.4f over %d group(s)\n", x.choice.c_str(),
                x.median_spread, x.max_spread, x.groups);
  }
  ReportInput report;
  report.source = input;
  report.convention = from_runs ? convention : "as given (flops column or 6ND)";
  report.method = method;
  report.size_symbol = size_symbol;
  report.size_label =
      by_m ? "FLOPs per token M (" + convention + ")" : "non-embedding parameters N";
  report.validity = validity;
  report.floor_fixed = st.fix_floor;
  report.points = points;
  report.fit = fit;
  report.seed_weights = seed_weights;
  report.fit_at_floor = at_floor;
  report.boot = boot;
  report.isoflop = iso;
  report.profiles_note = profiles_note;
  report.isoflop_boot = iso_boot;
  report.envelope = envelope;
  report.envelope_boot = envelope_boot;
  report.hyper = hyper;
  report.varpro = varpro;
  report.holdout = holdout;
  report.robustness = robustness;
  report.sensitivity = sens;
  report.references = st.references;
  report.reference_hyper = st.reference_hyper;
  {
    std::set<std::string> names;  // this group's runs
    for (const auto& p : all_points) {
      auto it = p.extra.find("name");
      if (it != p.extra.end()) names.insert(it->second);
    }
    for (const auto& c : st.curves) {
      if (names.count(c.name)) report.curves.push_back(c);
    }
  }
  report.gpu_tflops = gpu_tflops;
  report.mfu = mfu;
  report.resamples = resamples;
  const auto rows = allocation_table(report);
  if (!allocatable) {
    std::printf("\nAllocation refused: %s\n", not_allocatable.c_str());
  } else {
    std::printf("\nAllocation (Approach 3, C = %.3g*%s*D)\n", fit.law.k, size_symbol);
    std::printf("  %10s %10s %12s %12s %10s  %s\n", "FLOPs", "range",
                (std::string(size_symbol) + "_opt").c_str(), "D_opt", "tok/size",
                "loss [95% interval of the law] {95% prediction for one run}");
  }
  std::vector<std::string> notes;
  for (const Allocation& a : rows) {
    const std::string cell = validity.cell(a.flops, a.loss, true, &notes);
    std::printf("  %10.0e %10s %12.4g %12.4g %10.1f  %s%s\n", a.flops,
                validity.where(a.flops).c_str(), a.n_opt, a.d_opt, a.tokens_per_param, cell.c_str(),
                cell == "—" ? ""
                            : (" [" + validity.interval(a.loss_ci.low, a.loss_ci.high) + "] {" +
                               validity.interval(a.loss_pi.low, a.loss_pi.high) + "}")
                                  .c_str());
  }
  for (const auto& n : notes) std::printf("  — %s\n", n.c_str());
  if (!out_dir.empty()) {
    stage("writing the guide to " + out_dir);
    write_report(out_dir, report);
    std::printf(
        "\nwrote the planning guide to %s/ (report.md, report.html, *.svg, fit.json, "
        "allocation.csv)\n",
        out_dir.c_str());
  }
  GroupLaws laws{"", fit.law, iso, c_min, c_max};
  laws.surface_boot = boot.laws;
  laws.loss_opt_boot = iso_boot.loss_opt;
  laws.validity = validity;
  return laws;
}

}  // namespace

int main(int argc, char** argv) {
  std::string input, out_dir, group_by, reference_file;
  bool reference_cooldown = false;
  Settings st;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "analyze: " << a << " needs a value\n";
        std::exit(2);
      }
      return argv[++i];
    };
    // A flag's value from a fixed set, else a usage error naming both.
    auto one_of = [&](const std::string& first, const std::string& second) {
      const std::string v = value();
      if (v != first && v != second) {
        throw scalebed::UsageError(a + " must be " + first + " or " + second + ", not '" + v + "'");
      }
      return v;
    };
    try {
      if (a == "--help" || a == "-h") {
        std::cout << kUsage;
        return 0;
      } else if (a == "--flops") {
        st.convention = value();
      } else if (a == "--drop-highest") {
        st.drop = static_cast<size_t>(scalebed::integer_flag(a, value(), 0));
      } else if (a == "--bootstrap") {
        // Fewer resamples give 95% percentile intervals that are just the
        // extremes of a handful of refits (one refit: an interval that can
        // exclude the estimate).
        st.resamples = static_cast<int>(scalebed::integer_flag(a, value(), 100, 1000000));
      } else if (a == "--seed") {
        st.seed = static_cast<uint64_t>(scalebed::integer_flag(a, value(), 0));
      } else if (a == "--isoflop-tolerance") {
        st.iso_options.group_tolerance = scalebed::positive_flag(a, value());
        if (st.iso_options.group_tolerance > 0.1) {
          throw scalebed::UsageError(a + " must be at most 0.1 decades (a budget of points " +
                                     "within 26%), not " + std::string(argv[i]));
        }
      } else if (a == "--threads") {
        st.fit_options.threads = static_cast<int>(scalebed::integer_flag(a, value(), 1, 1024));
      } else if (a == "--params") {
        st.at_params = scalebed::positive_flag(a, value());
      } else if (a == "--tokens") {
        st.at_tokens = scalebed::positive_flag(a, value());
      } else if (a == "--predict") {
        st.predict = scalebed::positive_flag(a, value());
      } else if (a == "--gpu-tflops") {
        st.gpu_tflops = scalebed::positive_flag(a, value());
      } else if (a == "--mfu") {
        st.mfu = scalebed::positive_flag(a, value());
        if (st.mfu > 1) {
          throw scalebed::UsageError(a + " is a fraction of peak FLOP/s, at most 1, not " +
                                     std::string(argv[i]));
        }
      } else if (a == "--budgets") {
        st.budgets = value(), st.budgets_given = true;
      } else if (a == "--curve-points") {
        std::cerr << "analyze: --curve-points was replaced by --budgets (IsoFLOP budgets read off "
                     "the training curves; the default for constant-LR runs)\n";
        return 2;
      } else if (a == "--curve") {
        st.curve = one_of("train", "val");
      } else if (a == "--max-loss") {
        st.max_loss = scalebed::real_flag(a, value());
        if (!(st.max_loss > 0)) throw scalebed::UsageError("--max-loss must be > 0");
      } else if (a == "--max-batch-tokens") {
        st.max_batch_tokens = static_cast<double>(scalebed::integer_flag(a, value(), 1));
      } else if (a == "--min-steps") {
        st.min_steps = static_cast<double>(scalebed::integer_flag(a, value(), 0));
      } else if (a == "--size") {
        st.size = one_of("params", "m");
      } else if (a == "--floor") {
        st.floor = scalebed::positive_flag(a, value());
      } else if (a == "--fix-floor") {
        st.fix_floor = true;
      } else if (a == "--no-seed-weights") {
        st.seed_weights = false;
      } else if (a == "--max-extrapolation") {
        st.max_extrapolation = scalebed::real_flag(a, value());
        if (!(st.max_extrapolation >= 0)) throw scalebed::UsageError(a + " must be >= 0");
      } else if (a == "--group-by") {
        group_by = value();
      } else if (a == "--reference") {
        reference_file = value();
      } else if (a == "--reference-cooldown") {
        reference_cooldown = true;
      } else if (a == "--out") {
        out_dir = value();
      } else if (!a.empty() && a[0] == '-') {
        std::cerr << "analyze: unknown option " << a << "\n(run analyze --help)\n";
        return 2;
      } else if (input.empty()) {
        input = a;
      } else {
        std::cerr << "analyze: one input file only\n";
        return 2;
      }
    } catch (const scalebed::UsageError& e) {
      std::cerr << "analyze: " << e.what() << "\n";
      return 2;
    }
  }
  if (input.empty()) {
    std::cerr << kUsage;
    return 2;
  }
  if (!out_dir.empty()) {
    // Before minutes of fitting: a guide that cannot be written is known now.
    std::error_code ec;
    std::filesystem::create_directories(out_dir, ec);
    const std::string probe = out_dir + "/.analyze-write-test";
    std::ofstream test(probe);
    test << "ok\n";
    test.flush();
    if (ec || !test) {
      std::cerr << "analyze: --out " << out_dir << ": cannot write there"
                << (ec ? " (" + ec.message() + ")" : std::string()) << "\n";
      return 1;
    }
    test.close();
    std::filesystem::remove(probe, ec);
  }
  if (reference_cooldown && reference_file.empty()) {
    std::cerr << "analyze: --reference-cooldown needs --reference FILE\n";
    return 2;
  }
  if ((st.at_params > 0) != (st.at_tokens > 0)) {
    std::cerr << "analyze: --params and --tokens go together (both > 0)\n";
    return 2;
  }
  try {
    std::vector<ReferenceLaw> references =
        reference_file.empty() ? std::vector<ReferenceLaw>{} : read_reference_laws(reference_file);
    for (auto& r : references) {
      if (reference_cooldown) with_cooldown(r);
    }
    const std::vector<ReferenceHyperparameterLaw> reference_hyper =
        reference_file.empty() ? std::vector<ReferenceHyperparameterLaw>{}
                               : read_reference_hyperparameters(reference_file);
    int unfinished = 0;
    const bool from_runs = std::filesystem::is_directory(input);
    std::vector<Point> points;
    if (from_runs) {
      points = read_run_directories(input, st.convention, &unfinished);
      const std::vector<RunCurve> curves = read_run_curves(input, st.convention, st.curve);
      for (const auto& c : curves) {
        if (c.unparsable_lines + c.repeated_steps == 0) continue;
        std::fprintf(stderr,
                     "warning: %s/metrics.jsonl: %d unparsable line(s) and %d repeated or "
                     "out-of-order step(s) skipped\n",
                     c.final.extra.at("name").c_str(), c.unparsable_lines, c.repeated_steps);
      }
      for (const auto& c : curves) st.curves.push_back(plot_curve(c));
      size_t constant = 0;
      for (const auto& c : curves) constant += c.constant_lr();
      const size_t runs = points.size();
      const bool all_constant = constant == runs;
      if (st.budgets == "final" || (!st.budgets_given && !all_constant)) {
        st.method = "final losses, one point per run; IsoFLOP budgets group runs within " +
                    fmt("%.3g", st.iso_options.group_tolerance) + " decades of FLOPs";
        if (st.budgets != "final") {
          st.method +=
              " (not every run is constant-LR with a logged curve: " + std::to_string(constant) +
              " of " + std::to_string(points.size()) + " are; pass --budgets to read those curves)";
        }
      } else {
        if (constant == 0) {
          throw AnalysisError(input +
                              ": --budgets reads constant-LR training curves, and no finished run "
                              "is constant-LR (summary.json schedule.kind) with a logged curve");
        }
        const std::vector<double> grid = budget_grid(st.budgets, curves, st.min_steps);
        points = points_at_budgets(curves, grid, st.min_steps);
        if (points.empty()) {
          throw AnalysisError(input + ": no run's curve passes any budget of --budgets " +
                              st.budgets + " after its warm-up");
        }
        st.from_curves = true;
        st.runs_left_out = runs - constant;
      }
    } else {
      points = read_points_csv(input, st.convention, &unfinished);
      st.method = "points as given; IsoFLOP budgets group points within " +
                  fmt("%.3g", st.iso_options.group_tolerance) + " decades of FLOPs";
    }
    for (const auto& w : input_warnings(points)) std::fprintf(stderr, "warning: %s\n", w.c_str());
    if (st.size == "m") {
      // Size as FLOPs per token: M = C/D under the chosen convention (C = M·D).
      for (auto& p : points) p.params = p.flops / p.tokens;
    }
    points = drop_highest_losses(std::move(points), st.drop);
    // The fit window (the diffusion paper's: loss < 4, batch < 1024 sequences).
    if (st.max_loss > 0 || st.max_batch_tokens > 0) {
      const size_t before = points.size();
      points.erase(std::remove_if(points.begin(), points.end(),
                                  [&](const Point& p) {
                                    const double batch = extra_number(p, "batch_tokens");
                                    return (st.max_loss > 0 && !(p.loss < st.max_loss)) ||
                                           (st.max_batch_tokens > 0 && batch > st.max_batch_tokens);
                                  }),
                   points.end());
      st.window_note =
          "; window: " + (st.max_loss > 0 ? "loss < " + fmt("%g", st.max_loss) : std::string()) +
          (st.max_loss > 0 && st.max_batch_tokens > 0 ? ", " : "") +
          (st.max_batch_tokens > 0 ? "batch <= " + fmt("%.0f", st.max_batch_tokens) + " tokens"
                                   : std::string()) +
          " (" + std::to_string(before - points.size()) + " of " + std::to_string(before) +
          " points left out)";
      if (points.empty()) {
        throw AnalysisError(input + ": no point is left inside --max-loss/--max-batch-tokens");
      }
    }
    if (group_by.empty()) {
      st.references = references;
      st.reference_hyper = reference_hyper;
      analyze_points(points, input, from_runs, unfinished, st, out_dir);
      return 0;
    }
    // One analysis per value of the grouping column(s) (objective, noise, ...);
    // "objective,noise" groups by both (a missing field counts as empty).
    std::vector<std::string> keys;
    for (size_t start = 0; start <= group_by.size();) {
      const size_t comma = std::min(group_by.find(',', start), group_by.size());
      keys.push_back(group_by.substr(start, comma - start));
      start = comma + 1;
    }
    std::map<std::string, std::vector<Point>> groups;
    for (const auto& key : keys) {
      bool anywhere = false;
      for (const auto& p : points) anywhere = anywhere || p.extra.count(key);
      if (!anywhere) throw AnalysisError(input + ": --group-by " + key + ": no such column/field");
    }
    for (const auto& p : points) {
      std::string value;
      for (const auto& key : keys) {
        auto it = p.extra.find(key);
        const std::string v = it == p.extra.end() ? "" : it->second;
        if (!v.empty()) value += (value.empty() ? "" : "-") + v;
      }
      groups[value.empty() ? "none" : value].push_back(p);
    }
    std::string group_dir = group_by;
    std::replace(group_dir.begin(), group_dir.end(), ',', '+');
    int failed = 0;
    std::vector<GroupLaws> compared;
    for (const auto& [value, group] : groups) {
      std::printf("==================== %s = %s ====================\n", group_by.c_str(),
                  value.c_str());
      try {
        Settings group_st = st;  // with the reference laws meant for this group
        for (const auto& r : references) {
          if (r.group.empty() || r.group == value) group_st.references.push_back(r);
        }
        for (const auto& h : reference_hyper) {
          if (h.group.empty() || h.group == value) group_st.reference_hyper.push_back(h);
        }
        GroupLaws laws = analyze_points(
            group, input + " [" + group_by + " = " + value + "]", from_runs, unfinished, group_st,
            out_dir.empty() ? "" : out_dir + "/" + group_dir + "-" + value);
        laws.name = value;
        compared.push_back(laws);
      } catch (const AnalysisError& e) {  // one group's refusal does not stop the others
        std::printf("refused: %s\n", e.what());
        ++failed;
      }
      std::printf("\n");
    }
    if (compared.size() >= 2) {
      double lo = 1e300, hi = 0;
      for (const auto& g : compared) {
        if (g.can_plan()) lo = std::min(lo, g.c_min), hi = std::max(hi, g.c_max);
      }
      std::printf("==================== comparison across %s ====================\n",
                  group_by.c_str());
      if (hi > 0) {
        std::vector<std::string> notes;
        for (double c : {lo, hi, hi * 1e2, hi * 1e4}) {
          std::printf("  C %.3g:", c);
          for (const auto& g : compared) {
            if (g.can_plan()) {
              std::printf("  %s %s", g.name.c_str(), g.cell(c, &notes).c_str());
            }
          }
          std::printf("\n");
        }
        for (const auto& n : notes) std::printf("  — not printed: %s\n", n.c_str());
        for (const auto& x : find_crossings(compared, lo, hi * 1e6)) {
          std::printf("  %s and %s cross at %.3g FLOPs%s\n", x.first.c_str(), x.second.c_str(),
                      x.flops, x.flops > hi ? " (extrapolated)" : "");
        }
      }
      if (!out_dir.empty()) {
        write_comparison(out_dir, group_by, compared, references, reference_hyper);
        std::printf("wrote %s/comparison.html (and .md, optimal_loss.svg)\n", out_dir.c_str());
      }
    }
    if (failed > 0) return 1;
  } catch (const AnalysisError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
