// Budget grids, losses at budgets, and the best setting per (budget, size).
#include "budgets.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

#include "util/parse.h"

namespace scalebed::analysis {
namespace {

double run_flops_at(const RunCurve& c, double step) {
  return step * c.batch_tokens * c.flops_per_token;
}

std::string budget_key(double c) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", c);
  return buf;
}

double positive(const std::string& spec, const std::string& text) {
  const auto v = scalebed::parse_real(text);
  if (!v || !(*v > 0) || !std::isfinite(*v)) {
    throw AnalysisError("--budgets " + spec + ": '" + text + "' is not a positive number");
  }
  return *v;
}

}  // namespace

double first_readable_step(const RunCurve& c, double min_steps) {
  return std::max(
      {kWarmupFactor * c.warmup_steps, min_steps, c.steps.size() >= 2 ? c.steps[1] : c.last_step});
}

std::vector<double> budget_grid(const std::string& spec, const std::vector<RunCurve>& curves,
                                double min_steps) {
  const size_t colon = spec.find(':');
  if (colon != std::string::npos) {
    const size_t second = spec.find(':', colon + 1);
    if (second == std::string::npos) {
      throw AnalysisError("--budgets " + spec + ": expected LO:HI:COUNT");
    }
    const double lo = positive(spec, spec.substr(0, colon));
    const double hi = positive(spec, spec.substr(colon + 1, second - colon - 1));
    const auto count = scalebed::parse_integer(spec.substr(second + 1));
    if (!count || *count < 1 || *count > 10000 || hi < lo || (*count == 1 && hi != lo)) {
      throw AnalysisError("--budgets " + spec +
                          ": expected LO <= HI and a COUNT from 1 to 10000 (1 when LO = HI)");
    }
    std::vector<double> out;
    for (int64_t i = 0; i < *count; ++i) {
      out.push_back(*count == 1 ? lo
                                : std::exp(std::log(lo) + (std::log(hi) - std::log(lo)) * i /
                                                              static_cast<double>(*count - 1)));
    }
    return out;
  }
  double per_decade = 8;
  if (spec != "auto") {
    const std::string suffix = "/decade";
    if (spec.size() <= suffix.size() ||
        spec.compare(spec.size() - suffix.size(), suffix.size(), suffix) != 0) {
      throw AnalysisError("--budgets " + spec + ": expected auto, K/decade or LO:HI:COUNT");
    }
    per_decade = positive(spec, spec.substr(0, spec.size() - suffix.size()));
    if (per_decade > 1000) throw AnalysisError("--budgets " + spec + ": at most 1000/decade");
  }
  // The decade grid between the earliest readable point and the longest run.
  double lo = 1e300, hi = 0;
  for (const auto& c : curves) {
    if (!c.constant_lr() || c.steps.empty()) continue;
    lo = std::min(lo, run_flops_at(c, first_readable_step(c, min_steps)));
    hi = std::max(hi, run_flops_at(c, c.last_step));
  }
  std::vector<double> out;
  if (!(hi > lo)) return out;
  for (long j = static_cast<long>(std::ceil(std::log10(lo) * per_decade - 1e-9));
       j <= static_cast<long>(std::floor(std::log10(hi) * per_decade + 1e-9)); ++j) {
    out.push_back(std::pow(10.0, j / per_decade));
  }
  return out;
}

std::vector<Point> points_at_budgets(const std::vector<RunCurve>& curves,
                                     const std::vector<double>& budgets, double min_steps) {
  std::vector<Point> out;
  for (const auto& c : curves) {
    if (!c.constant_lr() || c.steps.size() < 2) continue;
    const double first = first_readable_step(c, min_steps), last = c.last_step;
    for (double budget : budgets) {
      const double step = budget / (c.batch_tokens * c.flops_per_token);
      if (step < first || step > last * (1 + 1e-9)) continue;
      // Linear in log step between the logged steps around it (the last
      // value past the last one: lines log the mean of the steps before them).
      const size_t hi =
          std::min<size_t>(std::lower_bound(c.steps.begin(), c.steps.end(), step) - c.steps.begin(),
                           c.steps.size() - 1);
      const size_t lo = hi == 0 ? 0 : hi - 1;
      double loss = c.smooth[hi];
      if (hi != lo && c.steps[hi] > c.steps[lo]) {
        const double t = (std::log(step) - std::log(c.steps[lo])) /
                         (std::log(c.steps[hi]) - std::log(c.steps[lo]));
        loss = c.smooth[lo] + std::clamp(t, 0.0, 1.0) * (c.smooth[hi] - c.smooth[lo]);
      }
      Point p = c.final;
      p.tokens = step * c.batch_tokens;
      p.flops = budget;
      p.loss = loss;
      p.extra["budget"] = budget_key(budget);
      p.extra["curve_step"] = budget_key(step);
      out.push_back(p);
    }
  }
  return out;
}

std::vector<Point> best_per_budget_and_size(const std::vector<Point>& points) {
  // (budget, size) -> (batch, LR) -> the seeds' points.
  using Cell = std::pair<std::string, long>;
  using Setting = std::pair<long, long>;
  std::map<Cell, std::map<Setting, std::vector<const Point*>>> cells;
  std::vector<Point> out;
  for (const auto& p : points) {
    auto b = p.extra.find("budget");
    if (b == p.extra.end()) {
      out.push_back(p);
      continue;
    }
    cells[{b->second, log_bucket(p.params)}]
         [{log_bucket(extra_number(p, "batch_tokens")), log_bucket(extra_number(p, "base_lr"))}]
             .push_back(&p);
  }
  for (const auto& [cell, settings] : cells) {
    const Point* best = nullptr;
    double best_loss = 0;
    size_t best_seeds = 0;
    double best_log_var = 0;
    for (const auto& [setting, seeds] : settings) {
      double mean = 0, log_mean = 0, log_ss = 0;
      for (const Point* p : seeds) mean += p->loss / static_cast<double>(seeds.size());
      for (const Point* p : seeds) log_mean += std::log(p->loss) / seeds.size();
      for (const Point* p : seeds) log_ss += std::pow(std::log(p->loss) - log_mean, 2);
      if (!best || mean < best_loss) {
        best = seeds.front(), best_loss = mean, best_seeds = seeds.size();
        best_log_var = seeds.size() > 1 ? log_ss / (seeds.size() - 1) : 0;
      }
    }
    Point p = *best;
    p.loss = best_loss;
    p.extra["seeds"] = std::to_string(best_seeds);
    // The seeds' spread, for the surface fit's weights (apply_seed_weights).
    if (best_seeds > 1) {
      char var[32];
      std::snprintf(var, sizeof var, "%.17g", best_log_var);
      p.extra["seed_log_var"] = var;
    }
    p.extra["settings"] = std::to_string(settings.size());
    out.push_back(p);
  }
  return out;
}

std::vector<Point> profile_budgets(const std::vector<Point>& points, size_t* budgets,
                                   size_t* dropped) {
  std::set<long> all_sizes;
  std::map<std::string, std::set<long>> sizes_at;
  for (const auto& p : points) {
    all_sizes.insert(log_bucket(p.params));
    if (auto b = p.extra.find("budget"); b != p.extra.end()) {
      sizes_at[b->second].insert(log_bucket(p.params));
    }
  }
  const size_t wanted = std::max<size_t>(3, std::min<size_t>(5, all_sizes.size()));
  std::vector<Point> out;
  std::set<std::string> kept, left;
  for (const auto& p : points) {
    auto b = p.extra.find("budget");
    if (b == p.extra.end() || sizes_at[b->second].size() >= wanted) {
      out.push_back(p);
      if (b != p.extra.end()) kept.insert(b->second);
    } else {
      left.insert(b->second);
    }
  }
  if (budgets) *budgets = kept.size();
  if (dropped) *dropped = left.size();
  return out;
}

}  // namespace scalebed::analysis
