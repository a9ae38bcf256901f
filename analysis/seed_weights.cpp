// Per-point weights from the spread of seeds of one setting.
#include "seed_weights.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <tuple>

namespace scalebed::analysis {
namespace {

constexpr double kPriorDof = 2;  // ν: how much the pooled variance counts

using Setting = std::tuple<long, std::string, long, long>;

Setting setting_of(const Point& p) {
  auto b = p.extra.find("budget");
  return {log_bucket(p.params),
          b != p.extra.end() ? b->second : std::to_string(log_bucket(p.tokens)),
          log_bucket(extra_number(p, "batch_tokens")), log_bucket(extra_number(p, "base_lr"))};
}

}  // namespace

std::string SeedWeights::describe() const {
  if (disabled) return "Points unweighted (--no-seed-weights).";
  if (!applied) {
    return "Points unweighted: no setting was run with two or more seeds, so the seed-to-seed "
           "noise is unknown.";
  }
  char buf[400];
  std::snprintf(buf, sizeof buf,
                "Points weighted by their seed spread (1/variance of log loss; %d settings "
                "with two or more seeds, pooled seed-to-seed sd %.3g in log loss; each "
                "setting's variance shrunk towards the pooled one with 2 pseudo-degrees of "
                "freedom): weights %.3g to %.3g, mean 1.",
                settings_with_seeds, pooled_sd, min_weight, max_weight);
  return buf;
}

SeedWeights apply_seed_weights(std::vector<Point>& points) {
  // Per setting: (seed count, sum of squared deviations of log loss).
  struct Spread {
    double seeds = 0, ss = 0;
    std::vector<size_t> rows;  // raw seed rows of the setting
  };
  std::map<Setting, Spread> settings;
  for (size_t i = 0; i < points.size(); ++i) {
    const Point& p = points[i];
    Spread& s = settings[setting_of(p)];
    if (auto n = p.extra.find("seeds"); n != p.extra.end() && p.extra.count("seed_log_var")) {
      const double seeds = extra_number(p, "seeds");
      s.seeds += seeds;
      s.ss += (seeds - 1) * extra_number(p, "seed_log_var");
    }
    s.rows.push_back(i);
  }
  // Raw rows (no averaged point): the sample variance over the rows, when
  // each names a seed and no two the same one (repeated rows are not seeds).
  for (auto& [key, s] : settings) {
    if (s.seeds > 0 || s.rows.size() < 2) continue;
    std::set<std::string> seeds;
    for (size_t i : s.rows) {
      if (auto seed = points[i].extra.find("seed"); seed != points[i].extra.end())
        seeds.insert(seed->second);
    }
    if (seeds.size() != s.rows.size()) continue;
    double mean = 0;
    for (size_t i : s.rows) mean += std::log(points[i].loss) / s.rows.size();
    for (size_t i : s.rows) s.ss += std::pow(std::log(points[i].loss) - mean, 2);
    s.seeds = static_cast<double>(s.rows.size());
  }
  SeedWeights out;
  double dof = 0, ss = 0;
  for (const auto& [key, s] : settings) {
    if (s.seeds >= 2) dof += s.seeds - 1, ss += s.ss, ++out.settings_with_seeds;
  }
  if (out.settings_with_seeds == 0 || !(ss > 0)) return out;
  const double pooled = ss / dof;
  out.applied = true;
  out.pooled_sd = std::sqrt(pooled);
  double total = 0;
  for (const auto& [key, s] : settings) {
    const double own_dof = std::max(0.0, s.seeds - 1);
    const double variance = (s.ss + kPriorDof * pooled) / (own_dof + kPriorDof);
    for (size_t i : s.rows) {
      // An averaged point is the mean of its seeds; a raw row is one of them.
      const double seeds = std::max(1.0, extra_number(points[i], "seeds"));
      points[i].weight = seeds / variance;
      total += points[i].weight;
    }
  }
  const double mean = total / points.size();
  out.min_weight = 1e300, out.max_weight = 0;
  for (auto& p : points) {
    p.weight /= mean;
    out.min_weight = std::min(out.min_weight, p.weight);
    out.max_weight = std::max(out.max_weight, p.weight);
  }
  return out;
}

}  // namespace scalebed::analysis
