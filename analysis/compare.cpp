// Comparing the compute-optimal loss of several objectives, and references.
#include "compare.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>

#include "doc.h"
#include "svg_plot.h"
#include "util/fs.h"

namespace scalebed::analysis {

double GroupLaws::optimal_loss(double flops) const {
  if (surface.allocatable()) return surface.predict(surface.n_opt(flops), surface.d_opt(flops));
  return isoflop.loss_opt.at(flops);
}

namespace {
Validity with_range(const GroupLaws& g) {
  Validity v = g.validity;
  v.c_min = g.c_min, v.c_max = g.c_max;
  return v;
}

// A ratio cell: "1.9283 (1.894 – 1.964)", or "… – unbounded)"; no interval
// when there were no refits.
std::string ratio_cell(double value, const Interval& ci) {
  if (!(ci.high > 0)) return fmt("%.4f", value);
  return fmt("%.4f", value) + " (" + fmt("%.3f", ci.low) + " – " +
         (std::isinf(ci.high) ? std::string("unbounded") : fmt("%.3f", ci.high)) + ")";
}
}  // namespace

std::string GroupLaws::refusal(double flops) const {
  return with_range(*this).refusal(flops, optimal_loss(flops), law_has_floor());
}

std::string GroupLaws::cell(double flops, std::vector<std::string>* notes) const {
  return with_range(*this).cell(flops, optimal_loss(flops), law_has_floor(), notes);
}

size_t GroupLaws::resamples() const {
  return surface.allocatable() ? surface_boot.size() : loss_opt_boot.size();
}

double GroupLaws::optimal_loss(double flops, size_t r) const {
  if (surface.allocatable()) {
    const SurfaceLaw& l = surface_boot[r];
    return l.predict(l.n_opt(flops), l.d_opt(flops));
  }
  return loss_opt_boot[r].at(flops);
}

Interval ratio_interval(const GroupLaws& a, const GroupLaws& b, double flops, double a_floor,
                        double b_floor) {
  const size_t n = std::min(a.resamples(), b.resamples());
  std::vector<double> ratios;
  for (size_t r = 0; r < n; ++r) {
    // A refit whose law reaches its floor has no reducible loss left: 0 above
    // the line, and a ratio without bound below it.
    const double num = std::max(a.optimal_loss(flops, r) - a_floor, 0.0),
                 den = b.optimal_loss(flops, r) - b_floor;
    const double v = den > 0 ? num / den : std::numeric_limits<double>::infinity();
    if (!std::isnan(v)) ratios.push_back(v);
  }
  if (ratios.empty()) return {};
  return percentile_interval(ratios, 0.95);
}

double ReferenceLaw::optimal_loss(double flops) const {
  if (loss_opt) return loss_opt->at(flops);
  return surface->predict(surface->n_opt(flops), surface->d_opt(flops));
}

bool ReferenceLaw::outside_range(double flops) const {
  return range_hi > 0 && (flops < range_lo * (1 - 1e-9) || flops > range_hi * (1 + 1e-9));
}

std::string ReferenceLaw::range_text() const {
  return range_hi > 0 ? "fitted " + sci(range_lo) + " – " + sci(range_hi) + " FLOPs" : "";
}

void with_cooldown(ReferenceLaw& r) {
  if (r.loss_opt) r.loss_opt->k /= kPaperCooldownFactor;
  if (r.surface) {
    r.surface->E /= kPaperCooldownFactor;
    r.surface->A /= kPaperCooldownFactor;
    r.surface->B /= kPaperCooldownFactor;
  }
  for (auto& p : r.points) p.loss /= kPaperCooldownFactor;
  r.name += " ÷1.0245 (cooldown)";
}

namespace {

nlohmann::json read_reference_json(const std::string& path) {
  try {
    return nlohmann::json::parse(read_file(path));
  } catch (const std::exception& e) {
    throw AnalysisError(path + ": " + e.what());
  }
}

PowerLaw power_law_of(const nlohmann::json& e) {
  PowerLaw p;
  p.k = e.at("k").get<double>();
  p.exponent = e.at("exponent").get<double>();
  if (!(p.k > 0) || !std::isfinite(p.exponent)) throw AnalysisError("a law needs k > 0");
  return p;
}

}  // namespace

std::vector<ReferenceHyperparameterLaw> read_reference_hyperparameters(const std::string& path) {
  const nlohmann::json j = read_reference_json(path);
  std::vector<ReferenceHyperparameterLaw> out;
  if (!j.contains("hyperparameters")) return out;
  for (size_t i = 0; i < j["hyperparameters"].size(); ++i) {
    const auto& e = j["hyperparameters"][i];
    try {
      ReferenceHyperparameterLaw h;
      h.name = e.at("name").get<std::string>();
      h.group = e.value("group", "");
      h.law = e.at("law").get<std::string>();
      h.cite = e.value("cite", "");
      h.k = e.value("k", 0.0);
      h.exponent = e.at("exponent").get<double>();
      out.push_back(h);
    } catch (const std::exception& ex) {
      throw AnalysisError(path + ": hyperparameters[" + std::to_string(i) + "]: " + ex.what());
    }
  }
  return out;
}

std::vector<ReferenceLaw> read_reference_laws(const std::string& path) {
  const nlohmann::json j = read_reference_json(path);
  if (!j.contains("laws") || !j["laws"].is_array()) {
    throw AnalysisError(path + ": expected {\"laws\": [...]}");
  }
  std::vector<ReferenceLaw> out;
  for (size_t i = 0; i < j["laws"].size(); ++i) {
    const auto& e = j["laws"][i];
    const std::string where = path + ": laws[" + std::to_string(i) + "]";
    try {
      ReferenceLaw r;
      r.name = e.at("name").get<std::string>();
      r.group = e.value("group", "");
      r.cite = e.value("cite", "");
      if (e.contains("m_opt")) r.m_opt = power_law_of(e["m_opt"]);
      if (e.contains("tokens_opt")) r.tokens_opt = power_law_of(e["tokens_opt"]);
      if (e.contains("params_opt")) r.params_opt = power_law_of(e["params_opt"]);
      if (e.contains("flops_range")) {
        r.range_lo = e["flops_range"].at(0).get<double>();
        r.range_hi = e["flops_range"].at(1).get<double>();
        if (!(r.range_lo > 0) || !(r.range_hi > r.range_lo)) {
          throw AnalysisError("flops_range must be [lo, hi] with 0 < lo < hi");
        }
      }
      for (const auto& p : e.value("points", nlohmann::json::array())) {
        ReferencePoint point{p.value("label", ""), p.at("flops").get<double>(),
                             p.at("loss").get<double>()};
        if (!(point.flops > 0) || !(point.loss > 0)) {
          throw AnalysisError("a point needs flops and loss > 0");
        }
        r.points.push_back(point);
      }
      if (e.contains("loss_opt")) {
        r.loss_opt = power_law_of(e["loss_opt"]);
      } else if (e.contains("surface")) {
        const auto& s = e["surface"];
        SurfaceLaw law;
        law.E = s.at("E"), law.A = s.at("A"), law.alpha = s.at("alpha"), law.B = s.at("B"),
        law.beta = s.at("beta");
        law.k = s.value("k", 6.0);
        if (!law.allocatable()) throw AnalysisError("its surface has no optimum");
        r.surface = law;
      } else {
        throw AnalysisError("needs \"loss_opt\" or \"surface\"");
      }
      out.push_back(r);
    } catch (const std::exception& ex) {
      throw AnalysisError(where + ": " + ex.what());
    }
  }
  return out;
}

std::vector<Crossing> find_crossings(const std::vector<GroupLaws>& groups, double lo, double hi) {
  std::vector<Crossing> out;
  for (size_t a = 0; a < groups.size(); ++a) {
    for (size_t b = a + 1; b < groups.size(); ++b) {
      if (!groups[a].can_plan() || !groups[b].can_plan()) continue;
      auto diff = [&](double log_c) {
        const double c = std::exp(log_c);
        return groups[a].optimal_loss(c) - groups[b].optimal_loss(c);
      };
      const int steps = 400;
      double x0 = std::log(lo), f0 = diff(x0);
      for (int i = 1; i <= steps; ++i) {
        const double x1 = std::log(lo) + (std::log(hi) - std::log(lo)) * i / steps;
        const double f1 = diff(x1);
        if (f0 == 0 || (f0 < 0) != (f1 < 0)) {
          double l = x0, r = x1;
          for (int it = 0; it < 60; ++it) {
            const double m = 0.5 * (l + r);
            ((diff(l) < 0) != (diff(m) < 0) ? r : l) = m;
          }
          const double at = std::exp(0.5 * (l + r));
          if (groups[a].refusal(at).empty() && groups[b].refusal(at).empty()) {
            out.push_back({groups[a].name, groups[b].name, at});
          }
        }
        x0 = x1, f0 = f1;
      }
    }
  }
  return out;
}

void write_comparison(const std::string& dir, const std::string& group_key,
                      const std::vector<GroupLaws>& groups,
                      const std::vector<ReferenceLaw>& references,
                      const std::vector<ReferenceHyperparameterLaw>& hyperparameters) {
  std::filesystem::create_directories(dir);
  double c_min = 1e300, c_max = 0;
  for (const auto& g : groups) {
    if (!g.can_plan()) continue;
    c_min = std::min(c_min, g.c_min), c_max = std::max(c_max, g.c_max);
  }
  Doc doc;
  doc.heading(1, "Objective comparison: " + group_key);
  std::vector<std::string> lines;
  for (const auto& g : groups) {
    lines.push_back(g.name + ": " +
                    (g.can_plan() ? std::string("L*(C) from ") + g.source() + ", fitted on " +
                                        sci(g.c_min) + " to " + sci(g.c_max) + " FLOPs"
                                  : std::string("no compute-optimal law (see its guide)")));
  }
  for (const auto& r : references) {
    std::string line =
        "reference " + r.name + (r.group.empty() ? "" : " (for " + r.group + ")") + ": " +
        (r.loss_opt
             ? "L* = " + fmt("%.4g", r.loss_opt->k) + "·C^" + fmt("%.4f", r.loss_opt->exponent)
             : "surface E " + fmt("%.3g", r.surface->E) + ", α " + fmt("%.3f", r.surface->alpha) +
                   ", β " + fmt("%.3f", r.surface->beta));
    if (r.m_opt) line += "; M* ∝ C^" + fmt("%.4f", r.m_opt->exponent);
    if (r.tokens_opt) line += "; D* ∝ C^" + fmt("%.4f", r.tokens_opt->exponent);
    if (r.params_opt) line += "; P* ∝ C^" + fmt("%.4f", r.params_opt->exponent);
    for (const auto& p : r.points) {
      line += "; " + p.label + " run: " + fmt("%.3f", p.loss) + " at " + sci(p.flops) + " FLOPs";
    }
    if (r.range_hi > 0) line += " (" + r.range_text() + ")";
    if (!r.cite.empty()) line += ". Source: " + r.cite;
    lines.push_back(line);
  }
  for (const auto& h : hyperparameters) {
    lines.push_back("reference " + h.name + ": " +
                    (h.k > 0 ? fmt("%.4g", h.k) + "·x^" : std::string("slope ")) +
                    fmt("%.4f", h.exponent) + (h.cite.empty() ? "" : ". Source: " + h.cite));
  }
  doc.bullets(lines);
  if (c_max <= 0) {
    doc.paragraph("No group has a compute-optimal law: nothing to compare.");
  } else {
    // Budgets: each decade from the fitted range to six decades beyond it.
    std::vector<double> budgets;
    for (double c = std::pow(10.0, std::floor(std::log10(c_min)));
         c <= std::pow(10.0, std::ceil(std::log10(c_max)) + 6) * 1.01; c *= 10) {
      budgets.push_back(c);
    }
    std::vector<std::string> header = {"FLOPs"};
    const GroupLaws* base = nullptr;
    for (const auto& g : groups) {
      if (!g.can_plan()) continue;
      header.push_back("L* " + g.name);
      if (!base) base = &g;
    }
    for (const auto& g : groups) {
      if (g.can_plan() && &g != base) header.push_back(g.name + " / " + base->name);
    }
    // Groups with different known floors (AR scores tokens 1..T given token
    // 0, diffusion tokens 0..T-1 jointly) compare on the same footing by
    // their reducible losses L* − floor.
    const bool floors_differ = [&] {
      for (const auto& g : groups) {
        if (g.can_plan() && &g != base && g.validity.floor > 0 && base->validity.floor > 0 &&
            std::abs(g.validity.floor - base->validity.floor) > 1e-9) {
          return true;
        }
      }
      return false;
    }();
    if (floors_differ) {
      for (const auto& g : groups) {
        if (g.can_plan() && &g != base && g.validity.floor > 0)
          header.push_back("(" + g.name + " − floor) / (" + base->name + " − floor)");
      }
    }
    for (const auto& r : references) header.push_back("ref " + r.name);
    std::vector<std::vector<std::string>> rows;
    header.insert(header.begin() + 1, "range");
    std::vector<std::string> notes;
    Validity range;  // decades beyond the union of the groups' fitted FLOPs
    range.c_min = c_min, range.c_max = c_max;
    for (double c : budgets) {
      std::vector<std::string> row = {sci(c), range.where(c)};
      for (const auto& g : groups) {
        if (g.can_plan()) {
          row.push_back(g.cell(c, &notes));
        }
      }
      for (const auto& g : groups) {
        if (g.can_plan() && &g != base) {
          if (!g.refusal(c).empty() || !base->refusal(c).empty()) {
            row.push_back("—");
            continue;
          }
          row.push_back(
              ratio_cell(g.optimal_loss(c) / base->optimal_loss(c), ratio_interval(g, *base, c)));
        }
      }
      if (floors_differ) {
        for (const auto& g : groups) {
          if (!g.can_plan() || &g == base || g.validity.floor <= 0) continue;
          const bool printable = g.refusal(c).empty() && base->refusal(c).empty();
          const double reducible = g.optimal_loss(c) - g.validity.floor,
                       base_reducible = base->optimal_loss(c) - base->validity.floor;
          if (!printable || base_reducible <= 0) {
            row.push_back("—");
            continue;
          }
          // A small reducible loss divides badly: the interval says how badly.
          row.push_back(
              ratio_cell(reducible / base_reducible,
                         ratio_interval(g, *base, c, g.validity.floor, base->validity.floor)));
        }
      }
      for (const auto& r : references) {
        row.push_back(fmt("%.4f", r.optimal_loss(c)) + (r.outside_range(c) ? " †" : ""));
      }
      rows.push_back(row);
    }
    doc.heading(2, "Compute-optimal loss by budget");
    std::vector<std::string> floors;
    for (const auto& g : groups) {
      if (g.validity.floor > 0) {
        floors.push_back(g.name + " " + fmt("%.4f", g.validity.floor) + " (" +
                         g.validity.floor_source + ")");
      }
    }
    if (!floors.empty()) {
      std::string list;
      for (const auto& f : floors) list += (list.empty() ? "" : "; ") + f;
      doc.paragraph("Known floors: " + list + ". No loss below its group's floor is printed.");
    }
    if (floors_differ) {
      double lo = 1e300, hi = 0;
      for (const auto& g : groups) {
        if (g.validity.floor > 0)
          lo = std::min(lo, g.validity.floor), hi = std::max(hi, g.validity.floor);
      }
      doc.paragraph("The floors differ by " + fmt("%.4f", hi - lo) + " nats/token (" +
                    fmt("%.1f", 100 * (hi - lo) / lo) +
                    "% of the lowest): the groups score different tokens (AR: tokens 1..T given "
                    "token 0; diffusion: tokens 0..T−1 jointly) or data, and a ratio of losses "
                    "carries that difference. The ratios of reducible losses, L* − floor, compare "
                    "them on the same footing.");
    }
    doc.table(header, rows);
    doc.paragraph(
        "range: decades beyond the FLOPs the groups were fitted on. Ratios carry 95% intervals "
        "from the groups' bootstrap refits. † a reference's value outside the FLOPs it was "
        "itself fitted on (an extrapolation of the published law).");
    if (!notes.empty()) {
      std::vector<std::string> items;
      for (const auto& n : notes) items.push_back("— not printed: " + n);
      doc.bullets(items);
    }

    const double hi = std::pow(10.0, std::ceil(std::log10(c_max)) + 6);
    const auto crossings = find_crossings(groups, c_min, hi);
    doc.heading(2, "Crossings");
    doc.paragraph(
        "A law fitted by Approach 2 (L* = k·C^e) has no irreducible loss: far beyond "
        "the fitted range it keeps falling, so it is not read past its extrapolation limit, "
        "and crossings marked extrapolated are forecasts, not measurements. Crossings where "
        "a group's loss may not be printed are not reported.");
    if (crossings.empty()) {
      doc.paragraph("No two L*(C) curves cross between " + sci(c_min) + " and " + sci(hi) +
                    " FLOPs.");
    } else {
      std::vector<std::string> items;
      for (const auto& x : crossings) {
        items.push_back(x.first + " and " + x.second + " cross at " + sci(x.flops) + " FLOPs" +
                        (x.flops > c_max ? " (extrapolated)" : ""));
      }
      doc.bullets(items);
    }

    SvgPlot plot("Compute-optimal loss", "FLOPs", "L*(C)", true, true);
    int color = 0;
    for (const auto& g : groups) {
      if (!g.can_plan()) continue;
      std::vector<double> xin, yin, xout, yout;
      for (double e = std::log10(c_min); e <= std::log10(hi) + 1e-9; e += 0.05) {
        const double c = std::pow(10.0, e);
        if (!g.refusal(c).empty()) continue;  // never drawn where it may not be printed
        (c <= g.c_max && c >= g.c_min ? xin : xout).push_back(c);
        (c <= g.c_max && c >= g.c_min ? yin : yout).push_back(g.optimal_loss(c));
      }
      plot.add_line(xin, yin, series_color(color), g.name);
      plot.add_line(xout, yout, series_color(color), "", true);
      std::vector<double> vx, vy;
      for (const auto& p : g.isoflop.profiles) {
        if (p.accepted) vx.push_back(p.flops), vy.push_back(p.loss_opt);
      }
      plot.add_points(vx, vy, series_color(color), "", 3);
      ++color;
    }
    for (const auto& r : references) {
      // Drawn only over the FLOPs it was fitted on (when the file says them).
      std::vector<double> x, y;
      for (double e = std::log10(c_min); e <= std::log10(hi) + 1e-9; e += 0.05) {
        if (r.outside_range(std::pow(10.0, e))) continue;
        x.push_back(std::pow(10.0, e));
        y.push_back(r.optimal_loss(x.back()));
      }
      const std::string c = series_color(color++);
      if (!x.empty()) plot.add_line(x, y, c, "ref " + r.name, true);
      std::vector<double> px, py;
      for (const auto& p : r.points) px.push_back(p.flops), py.push_back(p.loss);
      if (!px.empty()) plot.add_points(px, py, c, "ref " + r.name + ": runs", 5);
    }
    const std::string svg = plot.render(760, 460);
    doc.figure("optimal_loss.svg", svg,
               "L*(C) per group (solid: fitted range, dashed: extrapolated; dots: IsoFLOP "
               "vertices) and reference laws (dashed, drawn only over the FLOPs they were "
               "fitted on; large dots: published runs).");
    write_file_atomic(dir + "/optimal_loss.svg", svg);
  }
  write_file_atomic(dir + "/comparison.md", doc.md.str());
  write_file_atomic(dir + "/comparison.html", doc.page("Objective comparison"));
}

}  // namespace scalebed::analysis
