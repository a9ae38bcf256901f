// One-choice-at-a-time loss spreads from the sweep's points.
#include "sensitivity.h"

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <tuple>

#include "isoflop.h"

namespace scalebed::analysis {
namespace {

using Key = std::tuple<long, long, long, long>;

// Per group (group_of), per value (level_of): the best loss; the spread over values.
Sensitivity spread(const std::string& name, const std::vector<Point>& points,
                   const std::function<Key(const Point&)>& group_of,
                   const std::function<long(const Point&)>& level_of) {
  std::map<Key, std::map<long, double>> best;
  for (const auto& p : points) {
    auto& slot = best[group_of(p)];
    const long level = level_of(p);
    auto it = slot.find(level);
    if (it == slot.end() || p.loss < it->second) slot[level] = p.loss;
  }
  std::vector<double> spreads;
  for (const auto& [group, levels] : best) {
    if (levels.size() < 2) continue;
    double lo = 1e300, hi = -1e300;
    for (const auto& [level, loss] : levels) lo = std::min(lo, loss), hi = std::max(hi, loss);
    spreads.push_back(hi - lo);
  }
  Sensitivity s;
  s.choice = name;
  s.groups = static_cast<int>(spreads.size());
  if (!spreads.empty()) {
    std::sort(spreads.begin(), spreads.end());
    s.median_spread = spreads[spreads.size() / 2];
    s.max_spread = spreads.back();
  }
  return s;
}

}  // namespace

std::vector<Sensitivity> sensitivity(const std::vector<Point>& points, double budget_tolerance) {
  auto batch = [](const Point& p) { return log_bucket(extra_number(p, "batch_tokens")); };
  auto lr = [](const Point& p) { return log_bucket(extra_number(p, "base_lr")); };
  auto size = [](const Point& p) { return log_bucket(p.params); };
  auto tokens = [](const Point& p) { return log_bucket(p.tokens); };
  // Budgets as IsoFLOP groups: the group index of each point.
  long g = 0;
  std::vector<std::pair<double, long>> edges;
  for (const auto& group : group_by_budget(points, budget_tolerance)) {
    edges.emplace_back(group.back().flops, g++);
  }
  auto budget_of = [&](const Point& p) {
    for (const auto& [last, index] : edges) {
      if (p.flops <= last) return index;
    }
    return g;
  };
  std::vector<Sensitivity> out = {
      spread(
          "size", points,
          [&](const Point& p) {
            return Key{budget_of(p), 0, 0, 0};
          },
          size),
      spread(
          "batch", points,
          [&](const Point& p) {
            return Key{size(p), tokens(p), 0, 0};
          },
          batch),
      spread(
          "LR", points,
          [&](const Point& p) {
            return Key{size(p), tokens(p), batch(p), 0};
          },
          lr),
  };
  out.erase(
      std::remove_if(out.begin(), out.end(), [](const Sensitivity& s) { return s.groups == 0; }),
      out.end());
  std::stable_sort(out.begin(), out.end(), [](const Sensitivity& a, const Sensitivity& b) {
    return a.median_spread > b.median_spread;
  });
  return out;
}

}  // namespace scalebed::analysis
