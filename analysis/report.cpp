// Planning-guide rendering: one document model, written as Markdown and HTML.
#include "report.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "doc.h"
#include "svg_plot.h"
#include "util/fs.h"
#include "util/parse.h"

namespace scalebed::analysis {
namespace {

std::string gpu_time(double flops, const ReportInput& in) {
  const double hours = flops / (in.gpu_tflops * 1e12 * in.mfu) / 3600.0;
  if (hours < 48) return fmt("%.3g GPU-h", hours);
  return fmt("%.3g GPU-days", hours / 24);
}

}  // namespace

std::vector<Allocation> allocation_table(const ReportInput& in) {
  double c_min = 1e300, c_max = 0;
  for (const auto& p : in.points) {
    c_min = std::min(c_min, p.flops);
    c_max = std::max(c_max, p.flops);
  }
  std::vector<Allocation> rows;
  if (!in.fit.law.allocatable()) return rows;
  // From the decade of the smallest fitted budget up to 1e25 (and at least
  // two decades beyond the largest): where a practitioner plans.
  const double first = std::pow(10.0, std::floor(std::log10(c_min)));
  const double last = std::max(1e25, std::pow(10.0, std::ceil(std::log10(c_max)) + 2));
  for (double c = first; c <= last * 1.01; c *= 10)
    rows.push_back(allocate(in.fit.law, in.boot, c, c_min, c_max));
  return rows;
}

void write_report(const std::string& dir, const ReportInput& in) {
  std::filesystem::create_directories(dir);
  const SurfaceLaw& law = in.fit.law;
  const FittedRange range = fitted_range(in.points);
  const double c_min = range.c_min, c_max = range.c_max;
  const double r2 = surface_r2(in);
  const auto rows = allocation_table(in);

  // Plots.
  std::vector<double> px, py;
  for (const auto& p : in.points) px.push_back(p.flops), py.push_back(p.loss);
  // L*(C) over the fitted budgets and two decades beyond: from the surface
  // when it allows an allocation, else from the IsoFLOP loss law.
  std::vector<double> fx_in, fy_in, fx_out, fy_out;
  const bool have_surface = law.allocatable();
  const Validity& valid = in.validity;
  if (have_surface || in.isoflop.fitted) {
    for (double e = std::log10(c_min); e <= std::log10(c_max) + 2.001; e += 0.05) {
      const double c = std::pow(10.0, e);
      const double l =
          have_surface ? law.predict(law.n_opt(c), law.d_opt(c)) : in.isoflop.loss_opt.at(c);
      if (!valid.refusal(c, l, have_surface).empty()) continue;  // never drawn where not printed
      const bool inside = c <= c_max;
      (inside ? fx_in : fx_out).push_back(c);
      (inside ? fy_in : fy_out).push_back(l);
    }
    if (!fx_in.empty())
      fx_out.insert(fx_out.begin(), fx_in.back()), fy_out.insert(fy_out.begin(), fy_in.back());
  }
  SvgPlot loss_plot("Loss vs training FLOPs", "FLOPs (" + in.convention + ")", "loss", true, true);
  if (valid.floor > 0) {
    loss_plot.add_line({c_min, c_max * 100}, {valid.floor, valid.floor}, "#444",
                       "known floor " + fmt("%.4f", valid.floor), true);
  }
  for (size_t i = 0; i < in.curves.size(); ++i) {
    loss_plot.add_line(in.curves[i].flops, in.curves[i].loss, "#c8c8c8",
                       i == 0 ? "training curves" : "");
  }
  loss_plot.add_points(px, py, "#888", "runs / points", 2.5);
  std::vector<double> ex, ey;
  for (const auto& p : in.envelope.frontier) ex.push_back(p.flops), ey.push_back(p.loss);
  loss_plot.add_line(ex, ey, series_color(2), "Pareto frontier");
  loss_plot.add_line(fx_out, fy_out, series_color(1), "L*(C), extrapolated", true);
  loss_plot.add_line(fx_in, fy_in, series_color(1),
                     have_surface ? "L*(C), Approach 3" : "L*(C), Approach 2");
  for (size_t r = 0; r < in.references.size(); ++r) {
    // Only over the FLOPs the reference was fitted on, when the file says them.
    std::vector<double> rx, ry;
    for (double e = std::log10(c_min); e <= std::log10(c_max) + 2.001; e += 0.1) {
      if (in.references[r].outside_range(std::pow(10.0, e))) continue;
      rx.push_back(std::pow(10.0, e));
      ry.push_back(in.references[r].optimal_loss(rx.back()));
    }
    if (!rx.empty()) {
      loss_plot.add_line(rx, ry, series_color(3 + r), "ref " + in.references[r].name, true);
    }
  }
  const std::string loss_svg = loss_plot.render();

  SvgPlot iso_plot("IsoFLOP profiles (Approach 2)", in.size_label, "loss", true, false);
  size_t k = 0;
  for (const auto& prof : in.isoflop.profiles) {
    if (!prof.accepted) continue;
    const double lo = *std::min_element(prof.params.begin(), prof.params.end());
    const double hi = *std::max_element(prof.params.begin(), prof.params.end());
    std::vector<double> curve_n, curve_l;
    for (int i = 0; i <= 40; ++i) {
      curve_n.push_back(lo * std::pow(hi / lo, i / 40.0));
      curve_l.push_back(prof.parabola(curve_n.back()));
    }
    iso_plot.add_points(prof.params, prof.losses, series_color(k), "C = " + sci(prof.flops));
    iso_plot.add_line(curve_n, curve_l, series_color(k), "");
    iso_plot.add_points({std::exp(prof.log_n_opt)}, {prof.loss_opt}, "#000", "", 5);
    ++k;
  }
  const std::string iso_svg = iso_plot.render();

  // Compute-optimal size and tokens: every approach's law over the fitted
  // budgets and two decades beyond, Approach 3 with its band, and the
  // IsoFLOP vertices they are read against.
  auto allocation_plot = [&](bool size) {
    SvgPlot plot(size ? "Compute-optimal model size" : "Compute-optimal training tokens",
                 "FLOPs (" + in.convention + ")", size ? in.size_symbol + "_opt" : "D_opt", true,
                 true);
    std::vector<double> cx, v, lo, hi;
    for (const auto& r : rows) {
      if (r.flops > c_max * 100 * 1.001) break;  // as far as the other laws are drawn
      cx.push_back(r.flops);
      v.push_back(size ? r.n_opt : r.d_opt);
      lo.push_back(size ? r.n_opt_ci.low : r.d_opt_ci.low);
      hi.push_back(size ? r.n_opt_ci.high : r.d_opt_ci.high);
    }
    if (!cx.empty()) {
      plot.add_line(cx, v, series_color(0), "Approach 3");
      plot.add_line(cx, lo, series_color(0), "Approach 3, 95% interval", true);
      plot.add_line(cx, hi, series_color(0), "", true);
    }
    auto law_line = [&](const PowerLaw& law, const std::string& color, const std::string& label) {
      std::vector<double> x, y;
      for (double e = std::log10(c_min); e <= std::log10(c_max) + 2.001; e += 0.05) {
        x.push_back(std::pow(10.0, e));
        y.push_back(law.at(x.back()));
      }
      plot.add_line(x, y, color, label);
    };
    if (in.isoflop.fitted) {
      law_line(size ? in.isoflop.n_opt : in.isoflop.d_opt, series_color(1), "Approach 2 law");
    }
    if (in.envelope.fitted) {
      law_line(size ? in.envelope.n_opt : in.envelope.d_opt, series_color(2), "Approach 1 law");
    }
    std::vector<double> vx, vy;
    for (const auto& p : in.isoflop.profiles) {
      if (!p.accepted) continue;
      const double n = std::exp(p.log_n_opt);
      vx.push_back(p.flops), vy.push_back(size ? n : p.flops / (law.k * n));
    }
    plot.add_points(vx, vy, series_color(1), "Approach 2 vertices", 4);
    return plot.render();
  };
  const std::string n_svg = allocation_plot(true), d_svg = allocation_plot(false);

  Doc doc;
  doc.heading(1, "Scaling-law planning guide");
  doc.heading(2, "Resources");
  const std::string& S = in.size_symbol;
  std::vector<std::string> resources = {
      "Input: " + in.source + " (" + std::to_string(in.points.size()) + " points)",
      "Points: " + (in.method.empty() ? std::string("as given") : in.method),
      "FLOP convention of the points: " + in.convention + "; allocations use C = k·" + S +
          "·D with " + S + " the " + in.size_label + " and k = " + fmt("%.3g", law.k) +
          " (the points' median C/(" + S + "·D))",
      "Fitted range: FLOPs " + sci(c_min) + " to " + sci(c_max) + ", " + S + " " +
          sci(range.n_min) + " to " + sci(range.n_max) + ", D " + sci(range.d_min) + " to " +
          sci(range.d_max),
      "GPU-hours assume " + fmt("%.0f", in.gpu_tflops) + " TFLOP/s peak at " +
          fmt("%.0f%%", 100 * in.mfu) + " MFU"};
  if (valid.floor > 0) {
    resources.push_back("Known floor: " + fmt("%.4f", valid.floor) + " nats/token (" +
                        valid.floor_source + "). No predicted loss below it is printed.");
  }
  {
    // Bits per byte: one factor when every run's data gave the same one.
    std::set<long> factors;
    double factor = 0;
    for (const auto& p : in.points) {
      factor = extra_number(p, "nll_to_bpb");
      factors.insert(factor > 0 ? log_bucket(factor) : 0);
    }
    if (factors.size() == 1 && factor > 0) {
      resources.push_back("Losses are in nats/token; × " + fmt("%.5g", factor) +
                          " gives bits per byte on these runs' data (its tokens per byte, as the "
                          "runs recorded it: summary.json nll_to_bpb).");
    }
  }
  resources.push_back(
      "Extrapolation: every row says how many decades (dec) beyond the fitted FLOPs it lies; "
      "laws without an irreducible term (Approaches 1 and 2) print no loss past " +
      fmt("%.3g", valid.max_decades) + " decades.");
  doc.bullets(resources);
  {
    // What the sweep cost, as its runs recorded it (run directories only).
    double wall = 0;
    std::map<std::string, int> devices;
    std::set<std::string> runs;
    for (const auto& p : in.points) {
      auto name = p.extra.find("name");
      if (name == p.extra.end() || !runs.insert(name->second).second) continue;
      auto w = p.extra.find("wall_s");
      if (w != p.extra.end()) wall += scalebed::parse_real(w->second).value_or(0);
      auto d = p.extra.find("device");
      if (d != p.extra.end()) devices[d->second]++;
    }
    if (!devices.empty()) {
      std::string list;
      for (const auto& [d, n] : devices)
        list += (list.empty() ? "" : ", ") + d + " ×" + std::to_string(n);
      doc.paragraph("Measured on: " + list + "; " + std::to_string(runs.size()) + " runs, " +
                    fmt("%.3g", wall / 3600) + " hours of training wall-clock in total.");
    }
  }
  doc.heading(2, "Laws");
  doc.paragraph("Approach 3: L(" + S + ", D) = E + A/" + S +
                "^α + B/D^β, Huber (δ = 1e-3) in log space, " + std::to_string(in.fit.starts) +
                " L-BFGS starts; 95% bootstrap intervals from " + std::to_string(in.resamples) +
                " resamples. R² on log loss: " +
                (std::isfinite(r2) ? fmt("%.4f", r2) : std::string("n/a (the fit is degenerate)")) +
                ". " + in.seed_weights.describe());
  doc.table(
      {"coefficient", "value", "95% interval"},
      {{in.floor_fixed ? "E (held at the floor)" : "E", fmt("%.4f", law.E),
        fmt("%.4f", in.boot.E.low) + " – " + fmt("%.4f", in.boot.E.high)},
       {"A", fmt("%.4g", law.A), fmt("%.4g", in.boot.A.low) + " – " + fmt("%.4g", in.boot.A.high)},
       {"B", fmt("%.4g", law.B), fmt("%.4g", in.boot.B.low) + " – " + fmt("%.4g", in.boot.B.high)},
       {"α", fmt("%.4f", law.alpha),
        fmt("%.4f", in.boot.alpha.low) + " – " + fmt("%.4f", in.boot.alpha.high)},
       {"β", fmt("%.4f", law.beta),
        fmt("%.4f", in.boot.beta.low) + " – " + fmt("%.4f", in.boot.beta.high)},
       {"a = β/(α+β) (" + S + "_opt ∝ C^a)", fmt("%.4f", law.n_exponent()),
        fmt("%.4f", in.boot.n_exponent.low) + " – " + fmt("%.4f", in.boot.n_exponent.high)}});
  if (valid.floor > 0 && !in.floor_fixed) {
    doc.paragraph("E against the known floor " + fmt("%.4f", valid.floor) + ": " +
                  fmt("%+.1f%%", 100 * (law.E / valid.floor - 1)) +
                  (law.E < valid.floor
                       ? ". E lies below the floor, so the surface's losses are printed only "
                         "where they stay above it (analyze --fix-floor holds E at the floor)."
                       : "."));
    if (in.fit_at_floor.starts > 0) {
      const SurfaceLaw& held = in.fit_at_floor.law;
      doc.paragraph("With E held at the floor: α " + fmt("%.4f", held.alpha) + ", β " +
                    fmt("%.4f", held.beta) + ", " + S + "_opt ∝ C^" +
                    fmt("%.4f", held.n_exponent()) + "; objective " +
                    fmt("%.6g", in.fit_at_floor.objective) + " against " +
                    fmt("%.6g", in.fit.objective) +
                    " free (how much worse the points fit a surface that ends at the floor).");
    }
  }
  doc.paragraph(
      "Variable projection (a grid over α, β with E, A, B solved exactly, then "
      "polished): α " +
      fmt("%.4f", in.varpro.law.alpha) + ", β " + fmt("%.4f", in.varpro.law.beta) + ", E " +
      fmt("%.4f", in.varpro.law.E) + "; objective " + fmt("%.6g", in.varpro.objective) +
      " against " + fmt("%.6g", in.fit.objective) + " for the result above.");
  if (in.isoflop.fitted) {
    doc.paragraph(
        std::string("Approach 2 (IsoFLOP vertices ") +
        (read_off_curves(in.points) ? "at budgets read off the training curves: " + in.profiles_note
                                    : std::string("of final losses grouped by FLOPs")) +
        "; biased by wide or off-centre size grids, read it beside Approach 3): " + S + "_opt = " +
        fmt("%.4g", in.isoflop.n_opt.k) + "·C^" + fmt("%.4f", in.isoflop.n_opt.exponent) +
        " [95% " + fmt("%.4f", in.isoflop_boot.n_exponent_low) + " – " +
        fmt("%.4f", in.isoflop_boot.n_exponent_high) + "] (R² " + fmt("%.3f", in.isoflop.n_opt.r2) +
        "), D_opt ∝ C^" + fmt("%.4f", in.isoflop.d_opt.exponent) + ", L_opt = " +
        fmt("%.4g", in.isoflop.loss_opt.k) + "·C^" + fmt("%.4f", in.isoflop.loss_opt.exponent) +
        " [95% " + fmt("%.4f", in.isoflop_boot.loss_exponent_low) + " – " +
        fmt("%.4f", in.isoflop_boot.loss_exponent_high) + "] (" +
        std::to_string(in.isoflop_boot.n_opt.size()) + " bootstrap refits).");
  } else {
    doc.paragraph("Approach 2: " + in.isoflop.note + ".");
  }
  if (in.envelope.fitted) {
    doc.paragraph(
        "Approach 1 (lower envelope, " + std::to_string(in.envelope.frontier.size()) +
        " frontier points): L(C) = " + fmt("%.4f", in.envelope.E) + " + " +
        fmt("%.4g", in.envelope.A) + "·C^-" + fmt("%.4f", in.envelope.alpha) + " [95% α " +
        fmt("%.4f", in.envelope_boot.alpha_low) + " – " + fmt("%.4f", in.envelope_boot.alpha_high) +
        "]; " + S + "_opt ∝ C^" + fmt("%.4f", in.envelope.n_opt.exponent) + " [" +
        fmt("%.4f", in.envelope_boot.n_exponent_low) + " – " +
        fmt("%.4f", in.envelope_boot.n_exponent_high) + "], D_opt ∝ C^" +
        fmt("%.4f", in.envelope.d_opt.exponent) + " (" + std::to_string(in.envelope_boot.refits) +
        " bootstrap refits; sampling intervals: the frontier's own bias on a discrete grid "
        "is not in them)." +
        (in.envelope.note.empty() ? std::string() : " " + in.envelope.note + "."));
  } else {
    doc.paragraph("Approach 1: " + in.envelope.note + ".");
  }
  doc.paragraph(describe_holdout(in.holdout, S));
  if (!in.robustness.variants.empty()) {
    doc.paragraph(describe_robustness(in.robustness, in.boot.n_exponent, in.boot.E, S));
    std::vector<std::vector<std::string>> rows = {
        {"reported fit", fmt("%.4f", in.fit.law.E), fmt("%.4f", in.fit.law.alpha),
         fmt("%.4f", in.fit.law.beta), fmt("%.4f", in.robustness.n_exponent),
         fmt("%.4f", in.robustness.loss_at_top)}};
    for (const auto& v : in.robustness.variants) {
      rows.push_back({v.name, fmt("%.4f", v.law.E), fmt("%.4f", v.law.alpha),
                      fmt("%.4f", v.law.beta), v.allocatable ? fmt("%.4f", v.n_exponent) : "—",
                      v.allocatable ? fmt("%.4f", v.loss_at_top) : "—"});
    }
    doc.table({"fit", "E", "alpha", "beta", S + "_opt exponent",
               "L at C " + fmt("%.3g", in.robustness.top_flops)},
              rows);
  }
  doc.figure("loss_vs_flops.svg", loss_svg,
             "Every point (and, from run directories, every run's smoothed training curve), the "
             "Pareto frontier and the compute-optimal loss L*(C) (dashed: extrapolated).");
  doc.figure("isoflop.svg", iso_svg,
             "IsoFLOP budgets with an interior minimum; black: parabola vertices.");
  doc.figure("n_opt.svg", n_svg,
             "Compute-optimal size: the laws of every approach that gave one (Approach 3 with "
             "its 95% band), over the fitted budgets and two decades beyond, and Approach 2's "
             "vertices.");
  doc.figure("d_opt.svg", d_svg,
             "Compute-optimal training tokens, likewise (a vertex's tokens: its budget over k "
             "times its size).");

  // Hyperparameter laws, when the sweep varied batch or LR.
  doc.heading(2, "Hyperparameter laws");
  auto hyper_row = [&](const std::string& name, const HyperLaw& h) -> std::vector<std::string> {
    if (!h.fitted) return {name, "-", "-", "-", h.note};
    return {name, fmt("%.4g", h.law.k), fmt("%.4f", h.law.exponent),
            fmt("%.4f", h.exponent_ci.low) + " – " + fmt("%.4f", h.exponent_ci.high),
            std::to_string(h.optima.size()) + " vertices (" + std::to_string(h.refused) +
                " without an interior minimum), R² " + fmt("%.3f", h.law.r2)};
  };
  doc.paragraph(
      "B*: per model size and target loss, the batch (tokens) that reaches the target in the "
      "fewest tokens (parabola of log tokens over log batch near the best batch, the best LR at "
      "each batch). η*: per size and batch, the parabola of the final loss over log LR. "
      "Vertices are biased when the grid is coarse: half-octave steps recover a known law, "
      "octave steps can miss its exponent by 0.1. Paper: B* ≈ 10^-2.4·D^0.82, η* ∝ B^0.34.");
  doc.table({"law (best = k·x^e)", "k", "e", "e 95%", "from"},
            {hyper_row("B* vs D (tokens)", in.hyper.batch_vs_tokens),
             hyper_row("η* vs B (tokens)", in.hyper.lr_vs_batch),
             hyper_row("η* vs D (tokens)", in.hyper.lr_vs_tokens)});
  std::string batch_svg, lr_svg;
  // The sweep's law beside the published ones of the same kind (`kind`): with
  // their coefficient where it is published, else their slope drawn through
  // the middle of this sweep's law.
  auto hyper_plot = [&](const HyperLaw& h, const std::string& kind, const std::string& title,
                        const std::string& x_label, const std::string& y_label) {
    SvgPlot plot(title, x_label, y_label, true, true);
    std::vector<double> x, y;
    for (const auto& o : h.optima) x.push_back(o.x), y.push_back(o.best);
    plot.add_points(x, y, series_color(0), "vertices", 4);
    const double lo = *std::min_element(x.begin(), x.end()),
                 hi = *std::max_element(x.begin(), x.end()), mid = std::sqrt(lo * hi);
    auto line = [&](const std::function<double(double)>& f, const std::string& color,
                    const std::string& label, bool dashed) {
      std::vector<double> lx, ly;
      for (int i = 0; i <= 20; ++i) {
        lx.push_back(lo * std::pow(hi / lo, i / 20.0));
        ly.push_back(f(lx.back()));
      }
      plot.add_line(lx, ly, color, label, dashed);
    };
    line([&](double v) { return h.law.at(v); }, series_color(1),
         "fit e = " + fmt("%.3f", h.law.exponent), false);
    size_t k = 2;
    for (const auto& r : in.reference_hyper) {
      if (r.law != kind) continue;
      if (r.k > 0) {
        line([&](double v) { return r.k * std::pow(v, r.exponent); }, series_color(k++),
             "ref " + r.name, true);
      } else {
        line([&](double v) { return h.law.at(mid) * std::pow(v / mid, r.exponent); },
             series_color(k++), "ref " + r.name + " (slope only)", true);
      }
    }
    return plot.render();
  };
  const std::string refs_note =
      in.reference_hyper.empty()
          ? ""
          : " Dashed: published laws (a law without a published coefficient is drawn with its "
            "slope through the middle of this sweep's law).";
  if (in.hyper.batch_vs_tokens.fitted) {
    batch_svg = hyper_plot(in.hyper.batch_vs_tokens, "batch_vs_tokens", "Optimal batch", "tokens D",
                           "B* (tokens)");
    doc.figure("batch_opt.svg", batch_svg, "Optimal batch against tokens." + refs_note);
  }
  if (in.hyper.lr_vs_batch.fitted) {
    lr_svg =
        hyper_plot(in.hyper.lr_vs_batch, "lr", "Optimal learning rate", "batch B (tokens)", "η*");
    doc.figure("lr_opt.svg", lr_svg, "Optimal base LR against the batch." + refs_note);
  }

  if (!in.references.empty()) {
    doc.heading(2, "Against published laws");
    std::vector<std::vector<std::string>> rows;
    const bool mine = law.allocatable() || in.isoflop.fitted;
    for (double c = std::pow(10.0, std::floor(std::log10(c_min)));
         c <= std::pow(10.0, std::ceil(std::log10(c_max))) * 1.01; c *= 10) {
      std::vector<std::string> row = {sci(c)};
      const double fitted = law.allocatable()   ? law.predict(law.n_opt(c), law.d_opt(c))
                            : in.isoflop.fitted ? in.isoflop.loss_opt.at(c)
                                                : 0;
      row.push_back(mine ? valid.cell(c, fitted, law.allocatable(), nullptr) : "-");
      for (const auto& r : in.references) {
        const double ref = r.optimal_loss(c);
        const bool shown = mine && valid.refusal(c, fitted, law.allocatable()).empty();
        row.push_back(fmt("%.4f", ref) + (r.outside_range(c) ? " †" : "") +
                      (shown ? " (" + fmt("%.3f", fitted / ref) + "×)" : ""));
      }
      rows.push_back(row);
    }
    std::vector<std::string> header = {"FLOPs", "L* fitted here"};
    for (const auto& r : in.references) header.push_back(r.name + " (ratio here/ref)");
    std::string ranges;
    for (const auto& r : in.references) {
      if (r.range_hi > 0) ranges += (ranges.empty() ? "" : "; ") + r.name + ": " + r.range_text();
    }
    doc.paragraph(
        "The compute-optimal loss of this fit beside the reference laws, over the "
        "fitted budgets (the references are dashed in the first plot, over their own fitted "
        "FLOPs only). † a reference's value outside the FLOPs it was fitted on" +
        (ranges.empty() ? std::string(".") : " (" + ranges + ")."));
    doc.table(header, rows);
  }

  doc.heading(2, "Allocation");
  std::string not_allocatable;
  if (!law.allocatable(&not_allocatable)) {
    doc.paragraph("No allocation: " + not_allocatable +
                  ". Add sizes and token counts around the optimum (see the IsoFLOP plot).");
  }
  std::vector<std::vector<std::string>> table;
  std::vector<std::string> notes;  // why a loss is not printed
  Recipe recipe;                   // the sources are the same in every row
  for (const auto& r : rows) {
    const std::string loss = valid.cell(r.flops, r.loss, true, &notes);
    recipe = recipe_for(in.hyper, in.points, r.d_opt);
    table.push_back(
        {sci(r.flops), valid.where(r.flops), gpu_time(r.flops, in),
         sci(r.n_opt) + " (" + sci(r.n_opt_ci.low) + " – " + sci(r.n_opt_ci.high) + ")",
         sci(r.d_opt),
         fmt("%.1f", r.tokens_per_param) + " (" + fmt("%.1f", r.tokens_per_param_ci.low) + " – " +
             fmt("%.1f", r.tokens_per_param_ci.high) + ")",
         loss == "—" ? loss : loss + " (" + valid.interval(r.loss_ci.low, r.loss_ci.high) + ")",
         loss == "—" ? loss : valid.interval(r.loss_pi.low, r.loss_pi.high),
         sci(recipe.batch_tokens), recipe.lr > 0 ? fmt("%.3g", recipe.lr) : "—",
         sci(recipe.steps)});
  }
  auto not_printed = [&](std::vector<std::string>& list) {
    if (list.empty()) return;
    std::vector<std::string> items;
    for (const auto& n : list) items.push_back("— not printed: " + n);
    doc.bullets(items);
    list.clear();
  };
  const std::string per_size = S == "N" ? "tokens/param" : "tokens per FLOP/token";
  if (!table.empty()) {
    doc.table(
        {"FLOPs", "range", "compute", S + "_opt (95%)", "D_opt", per_size + " (95%)",
         "loss (95% of the law)", "one run (95% prediction)", "batch (tokens)", "LR", "steps"},
        table);
    doc.paragraph("batch: " + recipe.batch_source + ", at D_opt. LR: " + recipe.lr_source +
                  ". steps: D_opt / batch. The batch and LR laws were fitted (or published) "
                  "over their own range of tokens; past it they are extrapolations like the "
                  "rest of the row.");
    doc.paragraph(
        "range: decades beyond the fitted FLOPs (extrapolated). loss: the law's value, with the "
        "interval of its bootstrap refits (the uncertainty of the law itself). one run: where a "
        "single run trained at that allocation is expected to land, the law's uncertainty and "
        "the scatter of the fitted runs around it (their residuals) together; ends below the "
        "floor are shown as the floor.");
    not_printed(notes);
  } else if (in.isoflop.fitted) {
    // Without a surface, the IsoFLOP laws still say how to split a budget.
    doc.paragraph(
        "From the Approach-2 laws instead (IsoFLOP vertices; intervals from resampling "
        "each budget's points): " +
        S + "_opt = " + fmt("%.4g", in.isoflop.n_opt.k) + "·C^" +
        fmt("%.4f", in.isoflop.n_opt.exponent) + ", D_opt = C/(k·" + S +
        "_opt), L_opt = " + fmt("%.4g", in.isoflop.loss_opt.k) + "·C^" +
        fmt("%.4f", in.isoflop.loss_opt.exponent) + ".");
    std::vector<std::vector<std::string>> iso_rows;
    const double first = std::pow(10.0, std::floor(std::log10(c_min)));
    const double last = std::pow(10.0, std::ceil(std::log10(c_max)) + 3);
    for (double c = first; c <= last * 1.01; c *= 10) {
      const double n = in.isoflop.n_opt.at(c), d = c / (law.k * n);
      const double l = in.isoflop.loss_opt.at(c);
      const std::string loss = valid.cell(c, l, false, &notes);
      const auto ci = in.isoflop_boot.loss_interval(c);
      iso_rows.push_back(
          {sci(c), valid.where(c), gpu_time(c, in), sci(n), sci(d), fmt("%.1f", d / n),
           loss == "—" ? loss : loss + " (" + valid.interval(ci.first, ci.second) + ")"});
    }
    doc.table({"FLOPs", "range", "compute", S + "_opt", "D_opt", per_size, "loss (95%)"}, iso_rows);
    doc.paragraph("range: decades beyond the fitted FLOPs (extrapolated).");
    not_printed(notes);
  }

  doc.heading(2, "Budget scenarios");
  // Approach 3 when its surface allows an allocation, else the IsoFLOP laws.
  const bool by_surface = law.allocatable();
  const bool can_plan = by_surface || in.isoflop.fitted;
  std::vector<std::vector<std::string>> scen;
  const double per_day = in.gpu_tflops * 1e12 * in.mfu * 86400;
  // The compute of the sweep this law comes from: each training curve's last
  // FLOPs (run directories), else each point's (a CSV row is one run).
  double sweep_flops = 0;
  if (!in.curves.empty()) {
    for (const auto& c : in.curves)
      if (!c.flops.empty()) sweep_flops += c.flops.back();
  } else {
    for (const auto& p : in.points) sweep_flops += p.flops;
  }
  auto days_on = [&](double c) {
    std::string t;
    for (int gpus : {8, 64, 512}) {
      const double days = c / (gpus * per_day);
      t += (t.empty() ? "" : " / ") + (days < 0.1 ? fmt("%.2g", days) : fmt("%.3g", days));
    }
    return t;
  };
  for (auto [name, days] :
       std::vector<std::pair<std::string, double>>{{"< 1 GPU-day", 1},
                                                   {"1–100 GPU-days", 100},
                                                   {"100–10k GPU-days", 1e4},
                                                   {"> 10k GPU-days (at 100k)", 1e5}}) {
    if (!can_plan) break;
    const double c = days * per_day;
    double n, d, loss;
    Interval one_run;
    if (by_surface) {
      const Allocation a = allocate(law, in.boot, c, c_min, c_max);
      n = a.n_opt, d = a.d_opt, loss = a.loss, one_run = a.loss_pi;
    } else {
      n = in.isoflop.n_opt.at(c), d = c / (law.k * n), loss = in.isoflop.loss_opt.at(c);
    }
    const std::string cell = valid.cell(c, loss, by_surface, &notes);
    scen.push_back({name, sci(c), valid.where(c), days_on(c), sci(n), sci(d),
                    cell == "—" || !by_surface
                        ? cell
                        : cell + " (one run: " + valid.interval(one_run.low, one_run.high) + ")",
                    fmt("%.2g%%", 100 * sweep_flops / c)});
  }
  if (can_plan) {
    doc.paragraph(
        std::string("From ") +
        (by_surface ? "the Approach-3 surface." : "the Approach-2 IsoFLOP laws.") +
        " Days of training on 8, 64 and 512 GPUs at " + fmt("%g", in.gpu_tflops) + " TFLOP/s and " +
        fmt("%g", 100 * in.mfu) +
        "% MFU (--gpu-tflops, --mfu). The sweep "
        "column is this law's own cost (" +
        sci(sweep_flops) + " FLOPs of training" + (in.curves.empty() ? ", one run per point" : "") +
        ") as a share of the scenario's budget: what finding the law again at this scale takes.");
    doc.table({"scenario (upper edge)", "FLOPs", "range", "days on 8 / 64 / 512 GPUs", S + "_opt",
               "D_opt", "loss", "sweep"},
              scen);
    not_printed(notes);
  } else {
    doc.paragraph("No scenarios: neither a usable surface nor IsoFLOP laws were fitted.");
  }

  doc.heading(2, "Trade-offs");
  std::vector<std::vector<std::string>> trade;
  if (by_surface) {
    // The penalty of size N_opt·f at the budget, with its bootstrap interval.
    auto penalty = [&](double c, double f) {
      auto of = [&](const SurfaceLaw& l) {
        const double n = l.n_opt(c), d = l.d_opt(c);
        return l.predict(n * f, d / f) - l.predict(n, d);
      };
      std::vector<double> v;
      for (const auto& l : in.boot.laws) v.push_back(of(l));
      std::string text = fmt("%+.4f", of(law));
      if (!v.empty()) {
        const Interval i = percentile_interval(v, 0.95);
        text += " (" + fmt("%+.4f", i.low) + " – " + fmt("%+.4f", i.high) + ")";
      }
      return text;
    };
    // Inside the fitted FLOPs first (low, middle, top), then two decades
    // beyond, each row saying where it lies.
    for (double c : {c_min, std::sqrt(c_min * c_max), c_max, c_max * 1e2}) {
      trade.push_back({sci(c), valid.where(c), penalty(c, 0.5), penalty(c, 2.0), penalty(c, 0.25)});
    }
    doc.paragraph(
        "Loss penalty of a mis-sized model at the same budget (Approach 3, 95% "
        "bootstrap intervals), inside the fitted range and two decades beyond it:");
  } else {
    // Measured: each accepted IsoFLOP parabola, away from its vertex.
    for (const auto& p : in.isoflop.profiles) {
      if (!p.accepted) continue;
      const double n = std::exp(p.log_n_opt);
      trade.push_back({sci(p.flops), valid.where(p.flops),
                       fmt("%+.4f", p.parabola(n / 2) - p.loss_opt),
                       fmt("%+.4f", p.parabola(2 * n) - p.loss_opt),
                       fmt("%+.4f", p.parabola(n / 4) - p.loss_opt)});
    }
    doc.paragraph(
        "Loss penalty of a mis-sized model at the same budget, read off the IsoFLOP "
        "parabolas of the sweep:");
  }
  if (!trade.empty()) {
    doc.table({"FLOPs", "range", "2x too small", "2x too large", "4x too small"}, trade);
  }

  doc.heading(2, "Sensitivity");
  if (in.sensitivity.empty()) {
    doc.paragraph("The sweep varies no choice with the others held fixed.");
  } else {
    const std::map<std::string, std::string> held = {{"size", "FLOP budget (best batch/LR)"},
                                                     {"batch", "size, tokens (best LR)"},
                                                     {"LR", "size, tokens, batch"}};
    std::vector<std::vector<std::string>> rows;
    for (const auto& x : in.sensitivity) {
      rows.push_back({x.choice, held.at(x.choice), std::to_string(x.groups),
                      fmt("%.4f", x.median_spread), fmt("%.4f", x.max_spread)});
    }
    doc.paragraph(
        "How far each choice moves the loss in this sweep at equal compute, the others "
        "held fixed (spread = worst − best over the values it took), largest first. More "
        "tokens at a fixed size is more compute, not a choice at a given budget, so it is "
        "not ranked; the size row is the size/tokens split at fixed FLOPs:");
    doc.table({"choice", "held fixed", "groups", "median spread", "largest spread"}, rows);
  }

  // Residuals of the surface, when it is a usable law.
  std::string residual_svg;
  if (law.allocatable()) {
    SvgPlot res("Approach-3 residuals", "FLOPs", "log L − log L̂", true, false);
    std::vector<double> x, y;
    for (const auto& p : in.points) {
      x.push_back(p.flops);
      y.push_back(std::log(p.loss) - std::log(law.predict(p.params, p.tokens)));
    }
    res.add_points(x, y, series_color(0), "points");
    residual_svg = res.render();
    doc.figure("residuals.svg", residual_svg,
               "Residuals of the fitted surface in log loss: structure here means the form "
               "does not describe the data.");
  }

  doc.heading(2, "Assumptions");
  {
    // What the laws take for granted, stated from the points where they can tell.
    std::set<std::string> settings;
    for (const auto& p : in.points) {
      const auto b = p.extra.find("batch_tokens"), lr = p.extra.find("base_lr");
      if (b != p.extra.end() && lr != p.extra.end()) settings.insert(b->second + "/" + lr->second);
    }
    std::string tuning;
    if (settings.size() > 1) {
      tuning = "batch and learning rate: the best of the sweep's " +
               std::to_string(settings.size()) +
               " (batch, LR) settings at each size and budget, so the laws assume "
               "hyperparameters tuned per size (and a new run needs its own tuned ones)";
    } else if (settings.size() == 1) {
      tuning = "batch and learning rate: one setting for every size (" + *settings.begin() +
               " tokens/LR), so the laws hold for that setting, not for each size tuned";
    } else {
      tuning =
          "batch and learning rate: not recorded with the points; the laws hold for whatever "
          "the runs used";
    }
    doc.bullets(
        {"single epoch: every training token seen once (a law fitted on repeated data does not "
         "apply; the synthetic sources never repeat a window)",
         "one model family and training recipe: the sweep's shape rules, parameterization, "
         "optimizer, schedule, tokenizer and data; changing any of them needs a new sweep",
         tuning,
         "compute: C = " + fmt("%.3g", law.k) + "·" + S + "·D under the " + in.convention +
             " convention; GPU time at the stated TFLOP/s and MFU",
         "loss: held-out loss of the same distribution as the training data, in nats per "
         "token" +
             std::string(in.validity.floor > 0 ? "; the known floor bounds every prediction"
                                               : "")});
  }

  doc.heading(2, "Warnings");
  std::vector<std::string> warnings;
  if (in.points.size() < 20)
    warnings.push_back("only " + std::to_string(in.points.size()) +
                       " points: intervals are wide and the law may not hold");
  if (in.fit.optimum_at_grid_edge)
    warnings.push_back("the Approach-3 optimum lies on the edge of the start grid");
  if (const auto loose = undetermined_coefficients(in.boot); !loose.empty()) {
    std::string list;
    for (const auto& c : loose) list += (list.empty() ? "" : "; ") + c;
    warnings.push_back("Approach 3 leaves individually undetermined: " + list +
                       ". These trade off against each other; read the N_opt exponent and the "
                       "predicted losses with their own intervals, and Approach 2 beside them");
  }
  int refused = 0;
  for (const auto& p : in.isoflop.profiles) refused += !p.accepted;
  if (refused > 0)
    warnings.push_back(
        std::to_string(refused) +
        " IsoFLOP budget(s) refused (too few points, no minimum, or no interior minimum)");
  warnings.push_back("allocations beyond " + sci(c_max) + " FLOPs extrapolate the fit");
  if (!by_surface && in.isoflop.fitted) {
    warnings.push_back(
        "the plan uses the IsoFLOP loss law L_opt = k·C^e, which has no irreducible term: far "
        "beyond the fitted range it underestimates the loss, so its losses stop " +
        fmt("%.3g", valid.max_decades) + " decades beyond the fitted FLOPs");
  }
  if (valid.floor > 0 && law.allocatable() && law.E < valid.floor && !in.floor_fixed) {
    warnings.push_back("Approach 3's E (" + fmt("%.4f", law.E) + ") lies below the known floor " +
                       fmt("%.4f", valid.floor) +
                       ": its losses are printed only where they stay above the floor");
  }
  doc.bullets(warnings);

  write_file_atomic(dir + "/report.md", doc.md.str());
  write_file_atomic(dir + "/report.html", doc.page("Scaling-law planning guide"));
  write_file_atomic(dir + "/loss_vs_flops.svg", loss_svg);
  write_file_atomic(dir + "/isoflop.svg", iso_svg);
  write_file_atomic(dir + "/n_opt.svg", n_svg);
  write_file_atomic(dir + "/d_opt.svg", d_svg);
  if (!batch_svg.empty()) write_file_atomic(dir + "/batch_opt.svg", batch_svg);
  if (!residual_svg.empty()) write_file_atomic(dir + "/residuals.svg", residual_svg);
  if (!lr_svg.empty()) write_file_atomic(dir + "/lr_opt.svg", lr_svg);

  write_report_data(dir, in, rows);
}

}  // namespace scalebed::analysis
