// Zipf mixture of sparse Markov chains: tables, window sampling, exact NLL.
#include "data/zipf_markov.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "data/splitmix.h"
#include "util/error.h"

namespace scalebed {
namespace {

SplitMix window_rng(uint64_t table_seed, uint64_t window_seed) {
  return SplitMix{(table_seed ^ 0x5A17F00Dull) ^ splitmix64(window_seed)};
}

double log_sum_exp(const std::vector<double>& v) {
  double hi = -std::numeric_limits<double>::infinity();
  for (double x : v) hi = std::max(hi, x);
  if (!std::isfinite(hi)) return hi;
  double s = 0;
  for (double x : v) s += std::exp(x - hi);
  return hi + std::log(s);
}

}  // namespace

ZipfMarkov::ZipfMarkov(const ZipfMarkovOptions& o) : o_(o) {
  SB_CHECK(o.components >= 1 && o.vocab >= 2 && o.successors >= 1 && o.successors <= o.vocab &&
           o.concentration > 0 && o.zipf_exponent > 0 && o.noise >= 0 && o.noise < 1);
  const int64_t K = o.components, V = o.vocab, S = o.successors;
  weights_.resize(K);
  for (int64_t k = 0; k < K; ++k)
    weights_[k] = std::pow(static_cast<double>(k + 1), -(1 + o.zipf_exponent));
  const double total = std::accumulate(weights_.begin(), weights_.end(), 0.0);
  double run = 0;
  cumulative_.resize(K);
  for (int64_t k = 0; k < K; ++k) {
    weights_[k] /= total;
    run += weights_[k];
    cumulative_[k] = run;
  }
  cumulative_.back() = 1.0;

  std::mt19937_64 rng(o.seed);
  std::gamma_distribution<double> gamma(o.concentration, 1.0);
  next_.resize(K * V * S);
  prob_.resize(K * V * S);
  std::vector<uint32_t> perm(V);
  for (int64_t k = 0; k < K; ++k) {
    for (int64_t x = 0; x < V; ++x) {
      // S distinct successors: a partial Fisher-Yates shuffle.
      std::iota(perm.begin(), perm.end(), 0u);
      for (int64_t i = 0; i < S; ++i) {
        std::uniform_int_distribution<int64_t> pick(i, V - 1);
        std::swap(perm[i], perm[pick(rng)]);
      }
      double sum = 0;
      const int64_t base = (k * V + x) * S;
      for (int64_t i = 0; i < S; ++i) {
        next_[base + i] = perm[i];
        prob_[base + i] = gamma(rng) + 1e-9;  // every listed successor keeps a positive weight
        sum += prob_[base + i];
      }
      for (int64_t i = 0; i < S; ++i) prob_[base + i] /= sum;
    }
  }
  if (o.noise > 0) {
    listed_.resize(V * V);
    const double uniform = o.noise / static_cast<double>(V);
    for (int64_t k = 0; k < K; ++k) {
      for (int64_t x = 0; x < V; ++x) {
        for (int64_t i = 0; i < S; ++i) {
          const int64_t base = (k * V + x) * S + i;
          listed_[x * V + next_[base]].push_back(
              {static_cast<uint32_t>(k), std::log1p((1 - o.noise) * prob_[base] / uniform)});
        }
      }
    }
  }
}

// A window's first draw picks its component: inverse CDF of π.
int64_t ZipfMarkov::draw_component(SplitMix& rng) const {
  const double u = rng.uniform();
  const auto it = std::upper_bound(cumulative_.begin(), cumulative_.end(), u);
  return std::min<int64_t>(it - cumulative_.begin(), o_.components - 1);
}

int64_t ZipfMarkov::component_of(uint64_t window_seed) const {
  SplitMix rng = window_rng(o_.seed, window_seed);
  return draw_component(rng);
}

void ZipfMarkov::sample_window(uint64_t window_seed, int64_t n, uint32_t* out) const {
  SplitMix rng = window_rng(o_.seed, window_seed);
  const int64_t k = draw_component(rng);
  const int64_t V = o_.vocab, S = o_.successors;
  int64_t x = rng.below(V);
  for (int64_t t = 0; t < n; ++t) {
    out[t] = static_cast<uint32_t>(x);
    // Without noise no draw is spent on it: windows stay those of older runs.
    if (o_.noise > 0 && rng.uniform() < o_.noise) {
      x = rng.below(V);
      continue;
    }
    const int64_t base = (k * V + x) * S;
    double r = rng.uniform();
    int64_t i = 0;
    while (i < S - 1 && r >= prob_[base + i]) r -= prob_[base + i++];
    x = next_[base + i];
  }
}

double ZipfMarkov::transition(int64_t k, int64_t token, int64_t next) const {
  const int64_t base = (k * o_.vocab + token) * o_.successors;
  double listed = 0.0;
  for (int64_t i = 0; i < o_.successors; ++i) {
    if (next_[base + i] == static_cast<uint32_t>(next)) listed = prob_[base + i];
  }
  return (1 - o_.noise) * listed + o_.noise / static_cast<double>(o_.vocab);
}

double ZipfMarkov::component_nll(int64_t k, const uint32_t* tokens, int64_t n, int64_t skip) const {
  SB_CHECK(0 <= skip && skip <= n && k >= 0 && k < o_.components);
  double nll = skip == 0 ? std::log(static_cast<double>(o_.vocab)) : 0.0;
  for (int64_t t = std::max<int64_t>(skip, 1); t < n; ++t) {
    nll -= std::log(transition(k, tokens[t - 1], tokens[t]));
  }
  return nll;
}

double ZipfMarkov::window_nll(const uint32_t* tokens, int64_t n, int64_t skip) const {
  SB_CHECK(0 <= skip && skip < n);
  for (int64_t t = 0; t < n; ++t) {
    SB_CHECK(tokens[t] < static_cast<uint32_t>(o_.vocab), "token outside the source's vocabulary");
  }
  if (o_.noise > 0) return window_nll_with_noise(tokens, n, skip);
  // log p(x_0..t) = −log V + log Σ_k π_k Π P_k; the components that gave some
  // transition probability 0 drop out of the sum for good.
  std::vector<int64_t> alive(o_.components);
  std::iota(alive.begin(), alive.end(), 0);
  std::vector<double> log_w(o_.components);
  for (int64_t k = 0; k < o_.components; ++k) log_w[k] = std::log(weights_[k]);
  const double log_start = -std::log(static_cast<double>(o_.vocab));
  double log_p_head = skip == 0 ? 0.0 : log_start;  // log p(x_0..skip−1), x_0 alone so far
  std::vector<double> live;
  for (int64_t t = 1; t < n; ++t) {
    size_t kept = 0;
    for (int64_t k : alive) {
      const double p = transition(k, tokens[t - 1], tokens[t]);
      if (p > 0) {
        log_w[k] += std::log(p);
        alive[kept++] = k;
      }
    }
    alive.resize(kept);
    SB_CHECK(!alive.empty(), "window impossible under the source (no component produces it)");
    if (t == skip - 1 || t == n - 1) {
      live.clear();
      for (int64_t k : alive) live.push_back(log_w[k]);
      const double log_p = log_start + log_sum_exp(live);
      if (t == skip - 1) log_p_head = log_p;
      if (t == n - 1) return -(log_p - log_p_head);
    }
  }
  // n == 1: only x_0, scored when skip == 0.
  return -log_start;
}

// With noise every component can produce every window. Each step multiplies
// every component's likelihood by ε/V (kept as one shared log offset) and
// the components that list the step's pair by their lift on top, so a step
// costs the length of one list (K·S/V on average) rather than K.
double ZipfMarkov::window_nll_with_noise(const uint32_t* tokens, int64_t n, int64_t skip) const {
  const int64_t V = o_.vocab;
  std::vector<double> log_w(o_.components);
  for (int64_t k = 0; k < o_.components; ++k) log_w[k] = std::log(weights_[k]);
  const double log_start = -std::log(static_cast<double>(V));
  const double log_uniform = std::log(o_.noise / static_cast<double>(V));
  double offset = 0.0;  // Σ log(ε/V) over the steps so far
  double log_p_head = skip == 0 ? 0.0 : log_start;
  for (int64_t t = 1; t < n; ++t) {
    offset += log_uniform;
    for (const Listed& l : listed_[tokens[t - 1] * V + tokens[t]]) log_w[l.component] += l.log_lift;
    if (t == skip - 1 || t == n - 1) {
      const double log_p = log_start + offset + log_sum_exp(log_w);
      if (t == skip - 1) log_p_head = log_p;
      if (t == n - 1) return -(log_p - log_p_head);
    }
  }
  return -log_start;
}

}  // namespace scalebed
