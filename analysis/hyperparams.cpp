// Optimal batch and learning-rate laws from parabola vertices.
#include "hyperparams.h"

#include <Eigen/Dense>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>

namespace scalebed::analysis {
namespace {

struct Run {
  double params = 0, batch = 0, lr = 0;
  std::string seed;                              // "" when the points do not say
  std::vector<std::pair<double, double>> curve;  // (tokens, loss), by tokens
  double final_loss() const { return curve.back().second; }
  double final_tokens() const { return curve.back().first; }
};

// A key that treats values within ~1% as equal (sizes and batches read back
// from text).
// Vertex of y ≈ c0 + c1·x + c2·x² fitted to the points around the smallest
// y (two neighbours each side), when the smallest y is interior and the
// vertex is a minimum inside that window. Local, because the optimum's
// neighbourhood is where a parabola describes these curves.
bool parabola_vertex(std::vector<double> x_in, std::vector<double> y_in, double* x_opt,
                     double* y_opt) {
  std::vector<size_t> order(x_in.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) { return x_in[a] < x_in[b]; });
  std::vector<double> x, y;
  for (size_t i : order) x.push_back(x_in[i]), y.push_back(y_in[i]);
  const size_t best = std::min_element(y.begin(), y.end()) - y.begin();
  if (best == 0 || best + 1 == y.size()) return false;  // the minimum is on the edge
  const size_t lo = best >= 2 ? best - 2 : 0, hi = std::min(y.size() - 1, best + 2);
  const size_t n = hi - lo + 1;
  Eigen::MatrixXd X(n, 3);
  Eigen::VectorXd Y(n);
  for (size_t i = 0; i < n; ++i) {
    const double v = x[lo + i];
    X(i, 0) = 1, X(i, 1) = v, X(i, 2) = v * v;
    Y(i) = y[lo + i];
  }
  const Eigen::VectorXd c = X.colPivHouseholderQr().solve(Y);
  if (!(c(2) > 0)) return false;
  const double v = -c(1) / (2 * c(2));
  if (v < x[lo] || v > x[hi]) return false;
  *x_opt = v;
  *y_opt = c(0) + c(1) * v + c(2) * v * v;
  return true;
}

// Tokens at which a curve first reaches `target` (log-log interpolation
// between logged points); NaN when it never does within the curve.
double tokens_to(const Run& r, double target) {
  const auto& c = r.curve;
  if (c.front().second <= target) return std::numeric_limits<double>::quiet_NaN();  // before it
  for (size_t i = 1; i < c.size(); ++i) {
    if (c[i].second <= target) {
      const double t = (std::log(c[i - 1].second) - std::log(target)) /
                       (std::log(c[i - 1].second) - std::log(c[i].second));
      return std::exp(std::log(c[i - 1].first) +
                      t * (std::log(c[i].first) - std::log(c[i - 1].first)));
    }
  }
  return std::numeric_limits<double>::quiet_NaN();
}

void fit_law(HyperLaw& h, int resamples, uint64_t seed, const std::string& what) {
  std::set<long> xs;
  for (const auto& o : h.optima) xs.insert(log_bucket(o.x));
  if (xs.size() < 2) {
    h.note = std::to_string(h.optima.size()) + " " + what + " vertices at " +
             std::to_string(xs.size()) + " distinct value(s); need two or more";
    return;
  }
  std::vector<double> x, y;
  for (const auto& o : h.optima) x.push_back(o.x), y.push_back(o.best);
  h.law = fit_power_law(x, y);
  h.fitted = true;
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<size_t> pick(0, x.size() - 1);
  std::vector<double> exponents;
  for (int r = 0; r < resamples; ++r) {
    std::vector<double> bx, by;
    for (size_t i = 0; i < x.size(); ++i) {
      const size_t j = pick(rng);
      bx.push_back(x[j]), by.push_back(y[j]);
    }
    if (std::set<double>(bx.begin(), bx.end()).size() < 2) continue;
    exponents.push_back(fit_power_law(bx, by).exponent);
  }
  if (!exponents.empty()) h.exponent_ci = percentile_interval(exponents, 0.95);
}

}  // namespace

HyperparameterLaws fit_hyperparameter_laws(const std::vector<Point>& points, int resamples,
                                           uint64_t seed) {
  HyperparameterLaws out;
  std::map<std::string, Run> runs;
  for (const auto& p : points) {
    const double batch = extra_number(p, "batch_tokens"), lr = extra_number(p, "base_lr");
    auto name = p.extra.find("name");
    if (batch <= 0 || lr <= 0 || name == p.extra.end()) continue;
    Run& r = runs[name->second];
    r.params = p.params, r.batch = batch, r.lr = lr;
    if (auto s = p.extra.find("seed"); s != p.extra.end()) r.seed = s->second;
    r.curve.emplace_back(p.tokens, p.loss);
  }
  for (auto& [name, r] : runs) std::sort(r.curve.begin(), r.curve.end());
  std::set<long> batches, lrs;
  for (const auto& [name, r] : runs)
    batches.insert(log_bucket(r.batch)), lrs.insert(log_bucket(r.lr));
  out.batch_varied = batches.size() >= 3;
  out.lr_varied = lrs.size() >= 3;

  // Optimal batch: per size and target loss, fewest tokens over log B. Runs
  // of one setting (size, batch, LR) and seed that differ in length continue
  // each other's curve (constant LR: a short run is the start of a long one),
  // so their points join into one curve: with --curve-points each run covers
  // only the last part of its own length. The seeds of a setting then become
  // their mean curve, at the token counts all of them logged (joined as one
  // curve, the lucky seed would reach every target first).
  using Setting = std::tuple<long, long, long>;
  std::map<Setting, std::map<std::string, Run>> seeds_of;
  for (const auto& [name, r] : runs) {
    Run& s = seeds_of[{log_bucket(r.params), log_bucket(r.batch), log_bucket(r.lr)}][r.seed];
    s.params = r.params, s.batch = r.batch, s.lr = r.lr;
    s.curve.insert(s.curve.end(), r.curve.begin(), r.curve.end());
  }
  std::map<Setting, Run> settings;
  for (auto& [key, seeds] : seeds_of) {
    for (auto& [seed, r] : seeds) std::sort(r.curve.begin(), r.curve.end());
    const Run& first = seeds.begin()->second;
    Run& mean = settings[key];
    mean.params = first.params, mean.batch = first.batch, mean.lr = first.lr;
    if (seeds.size() == 1) {
      mean.curve = first.curve;
      continue;
    }
    for (const auto& [tokens, loss] : first.curve) {
      double sum = 0;
      size_t found = 0;
      for (const auto& [seed, r] : seeds) {
        auto it = std::lower_bound(
            r.curve.begin(), r.curve.end(),
            std::make_pair(tokens * (1 - 1e-9), -std::numeric_limits<double>::infinity()));
        if (it != r.curve.end() && it->first <= tokens * (1 + 1e-9)) sum += it->second, ++found;
      }
      if (found == seeds.size()) mean.curve.emplace_back(tokens, sum / found);
    }
  }
  std::map<long, std::map<long, std::vector<const Run*>>> by_size_batch;
  for (const auto& [key, s] : settings) {
    if (s.curve.size() >= 2) by_size_batch[log_bucket(s.params)][log_bucket(s.batch)].push_back(&s);
  }
  for (const auto& [size, by_batch] : by_size_batch) {
    if (by_batch.size() < 3) continue;
    // Targets between the third-best batch's best loss and the lowest first
    // logged loss, denser towards the low end, where the batches compete.
    std::vector<double> best_by_batch;
    double high = std::numeric_limits<double>::infinity();
    for (const auto& [b, rs] : by_batch) {
      double best = std::numeric_limits<double>::infinity();
      for (const Run* r : rs) {
        best = std::min(best, r->final_loss());
        high = std::min(high, r->curve.front().second);
      }
      best_by_batch.push_back(best);
    }
    std::sort(best_by_batch.begin(), best_by_batch.end());
    const double low = best_by_batch[2];
    if (!(low < high)) continue;
    for (int t = 1; t <= 8; ++t) {
      const double share = (t / 9.0) * (t / 9.0);
      const double target = std::exp(std::log(low) + (std::log(high) - std::log(low)) * share);
      std::vector<double> log_b, log_d;
      for (const auto& [b, rs] : by_batch) {
        double fewest = std::numeric_limits<double>::infinity();
        for (const Run* r : rs) {
          const double d = tokens_to(*r, target);
          if (std::isfinite(d)) fewest = std::min(fewest, d);
        }
        if (std::isfinite(fewest))
          log_b.push_back(std::log(rs.front()->batch)), log_d.push_back(std::log(fewest));
      }
      double v = 0, d_min = 0;
      if (log_b.size() < 3) continue;
      if (parabola_vertex(log_b, log_d, &v, &d_min)) {
        out.batch_vs_tokens.optima.push_back({std::exp(d_min), std::exp(v)});
      } else {
        out.batch_vs_tokens.refused++;
      }
    }
  }
  if (out.batch_varied)
    fit_law(out.batch_vs_tokens, resamples, seed, "batch");
  else
    out.batch_vs_tokens.note = "the batch was not varied (three or more values needed)";

  // Optimal LR: per size, batch and run length, final loss over log LR (runs
  // of other lengths end at other losses whatever their LR).
  std::map<std::tuple<long, long, long>, std::vector<const Run*>> by_size_batch_length;
  for (const auto& [name, r] : runs) {
    by_size_batch_length[{log_bucket(r.params), log_bucket(r.batch), log_bucket(r.final_tokens())}]
        .push_back(&r);
  }
  for (const auto& [key, rs] : by_size_batch_length) {
    std::vector<double> log_lr, loss;
    for (const Run* r : rs) log_lr.push_back(std::log(r->lr)), loss.push_back(r->final_loss());
    if (std::set<double>(log_lr.begin(), log_lr.end()).size() < 3) continue;
    double v = 0, l = 0;
    if (parabola_vertex(log_lr, loss, &v, &l)) {
      out.lr_vs_batch.optima.push_back({rs.front()->batch, std::exp(v)});
      out.lr_vs_tokens.optima.push_back({rs.front()->final_tokens(), std::exp(v)});
    } else {
      out.lr_vs_batch.refused++;
      out.lr_vs_tokens.refused++;
    }
  }
  if (out.lr_varied) {
    fit_law(out.lr_vs_batch, resamples, seed, "LR");
    fit_law(out.lr_vs_tokens, resamples, seed + 1, "LR");
  } else {
    out.lr_vs_batch.note = out.lr_vs_tokens.note =
        "the LR was not varied (three or more values needed)";
  }
  return out;
}

Recipe recipe_for(const HyperparameterLaws& h, const std::vector<Point>& points, double tokens) {
  Recipe r;
  if (h.batch_vs_tokens.fitted) {
    r.batch_tokens = h.batch_vs_tokens.law.at(tokens);
    r.batch_source = "fitted here: B* = k·D^e";
  } else {
    r.batch_tokens =
        std::pow(10.0, kPaperBatchLawLog10K) * std::pow(tokens, kPaperBatchLawExponent);
    r.batch_source = "borrowed: the diffusion paper's B* = 10^-2.4·D^0.8225 (not fitted here)";
  }
  r.steps = tokens / r.batch_tokens;
  if (h.lr_vs_batch.fitted) {
    r.lr = h.lr_vs_batch.law.at(r.batch_tokens);
    r.lr_source = "fitted here: η* = k·B^e";
  } else if (h.lr_vs_tokens.fitted) {
    r.lr = h.lr_vs_tokens.law.at(tokens);
    r.lr_source = "fitted here: η* = k·D^e";
  } else {
    std::set<long> lrs;
    double lr = 0;
    for (const auto& p : points) {
      if ((lr = extra_number(p, "base_lr")) > 0) lrs.insert(log_bucket(lr));
    }
    if (lrs.size() == 1) {
      r.lr = lr;
      r.lr_source = "the sweep's only base LR (not a law: the sweep did not vary it)";
    } else {
      r.lr_source = "none: no η* law was fitted";
    }
  }
  return r;
}

}  // namespace scalebed::analysis
