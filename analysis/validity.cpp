// Floors and extrapolation limits of printed predictions.
#include "validity.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace scalebed::analysis {

double Validity::decades_beyond(double flops) const {
  if (flops > c_max) return std::log10(flops / c_max);
  if (flops < c_min) return std::log10(c_min / flops);
  return 0;
}

std::string Validity::refusal(double flops, double loss, bool law_has_floor) const {
  char buf[256];
  if (!std::isfinite(loss)) return "not finite";
  if (floor > 0 && loss < floor) {
    std::snprintf(buf, sizeof buf, "the law's value would lie below the known floor %.4f (%s)",
                  floor, floor_source.c_str());
    return buf;
  }
  if (decades_beyond(flops) > max_decades + 1e-9) {
    if (!law_has_floor) {
      std::snprintf(buf, sizeof buf,
                    "%.1f decades beyond the fitted FLOPs: a power law without an irreducible "
                    "term is not extrapolated past %.3g decades",
                    decades_beyond(flops), max_decades);
      return buf;
    }
    if (surface_e_undetermined) {
      std::snprintf(buf, sizeof buf,
                    "%.1f decades beyond the fitted FLOPs: the surface's E is not determined by "
                    "the points (the robustness refits move it past its bootstrap interval), so "
                    "it is not extrapolated past %.3g decades",
                    decades_beyond(flops), max_decades);
      return buf;
    }
  }
  return "";
}

std::string Validity::cell(double flops, double loss, bool law_has_floor,
                           std::vector<std::string>* notes, int decimals) const {
  const std::string why = refusal(flops, loss, law_has_floor);
  if (!why.empty()) {
    if (notes && std::find(notes->begin(), notes->end(), why) == notes->end()) {
      notes->push_back(why);
    }
    return "—";
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, loss);
  return buf;
}

std::string Validity::interval(double low, double high, int decimals) const {
  char buf[96];
  if (at_least_floor(low) != low) {
    std::snprintf(buf, sizeof buf, "floor %.*f – %.*f", decimals, floor, decimals,
                  at_least_floor(high));
  } else {
    std::snprintf(buf, sizeof buf, "%.*f – %.*f", decimals, low, decimals, high);
  }
  return buf;
}

std::string Validity::where(double flops) const {
  const double d = decades_beyond(flops);
  if (d <= 0) return "in range";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s%.1f dec", flops > c_max ? "+" : "−", d);
  return buf;
}

double known_floor(const std::vector<Point>& points) {
  std::vector<double> floors;
  for (const auto& p : points) {
    const double f = extra_number(p, "optimal_loss");
    if (!(f > 0)) return 0;
    floors.push_back(f);
  }
  if (floors.empty()) return 0;
  std::nth_element(floors.begin(), floors.begin() + floors.size() / 2, floors.end());
  return floors[floors.size() / 2];
}

}  // namespace scalebed::analysis
