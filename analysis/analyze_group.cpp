// The pipeline of one `analyze` group (analyze_group.h).
#include "analyze_group.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <string>

#include "budgets.h"
#include "doc.h"
#include "holdout.h"
#include "report.h"
#include "robustness.h"
#include "seed_weights.h"
#include "util/error.h"
#include "validity.h"

namespace scalebed::analysis {
namespace {

// How points read off curves were made, counted for this group's points.
std::string curve_method(const AnalyzeSettings& st, const std::vector<Point>& points) {
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

}  // namespace

void stage(const std::string& what) {
  static const auto start = std::chrono::steady_clock::now();
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::fprintf(stderr, "[analyze %.1fs] %s\n", s, what.c_str());
}

// `all_points` may hold several points per (budget, size) (every batch and
// LR read off the curves): the laws are fitted on the best of each, the
// hyperparameter laws and the sensitivity on all of them.
GroupLaws analyze_points(const std::vector<Point>& all_points, const std::string& input,
                         bool from_runs, int unfinished, const AnalyzeSettings& st,
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
  // Before any loss is printed: an E the refits move past its interval
  // limits how far the surface's losses are extrapolated.
  RobustnessCheck robustness;
  if (allocatable) {
    stage("robustness: Approach 3 refitted under other choices of the fit");
    robustness = check_robustness(points, fit, fit_options, c_max);
    validity.surface_e_undetermined = e_undetermined(robustness, boot.E);
  }
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

  if (allocatable) {
    std::printf("\n%s\n",
                describe_robustness(robustness, boot.n_exponent, boot.E, size_symbol).c_str());
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

}  // namespace scalebed::analysis
