// Random HMM: sampling and the exact forward-algorithm likelihood.
#include "data/synthetic_hmm.h"

#include <cmath>
#include <random>

#include "util/error.h"

namespace scalebed {
namespace {

std::vector<double> dirichlet_row(int64_t n, double concentration, std::mt19937_64& rng) {
  std::gamma_distribution<double> gamma(concentration, 1.0);
  std::vector<double> row(n);
  double sum = 0;
  for (auto& v : row) {
    v = gamma(rng) + 1e-12;  // keeps every probability positive
    sum += v;
  }
  for (auto& v : row) v /= sum;
  return row;
}

int64_t draw(const double* probs, int64_t n, std::mt19937_64& rng) {
  double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
  for (int64_t i = 0; i < n; ++i) {
    u -= probs[i];
    if (u < 0) return i;
  }
  return n - 1;
}

}  // namespace

SyntheticHmm::SyntheticHmm(int64_t states, int64_t vocab, double concentration, uint64_t seed)
    : states_(states), vocab_(vocab) {
  SB_CHECK(states >= 1 && vocab >= 2 && concentration > 0);
  std::mt19937_64 rng(seed);
  for (int64_t s = 0; s < states; ++s) {
    auto row = dirichlet_row(states, concentration, rng);
    transition_.insert(transition_.end(), row.begin(), row.end());
  }
  for (int64_t s = 0; s < states; ++s) {
    auto row = dirichlet_row(vocab, concentration, rng);
    emission_.insert(emission_.end(), row.begin(), row.end());
  }
  // Stationary distribution by power iteration from uniform.
  stationary_.assign(states, 1.0 / states);
  for (int it = 0; it < 10000; ++it) {
    std::vector<double> next(states, 0.0);
    for (int64_t i = 0; i < states; ++i)
      for (int64_t j = 0; j < states; ++j) next[j] += stationary_[i] * transition_[i * states + j];
    double diff = 0;
    for (int64_t j = 0; j < states; ++j) diff += std::abs(next[j] - stationary_[j]);
    stationary_ = next;
    if (diff < 1e-15) break;
  }
}

std::vector<uint32_t> SyntheticHmm::sample(int64_t n, uint64_t stream_seed) const {
  std::mt19937_64 rng(stream_seed);
  std::vector<uint32_t> out(n);
  int64_t s = draw(stationary_.data(), states_, rng);
  for (int64_t i = 0; i < n; ++i) {
    out[i] = static_cast<uint32_t>(draw(&emission_[s * vocab_], vocab_, rng));
    s = draw(&transition_[s * states_], states_, rng);
  }
  return out;
}

double SyntheticHmm::window_nll(const uint32_t* tokens, int64_t n, int64_t skip) const {
  // belief = p(state_t | x_<t); each step: p(x_t | x_<t) = sum_s belief_s E[s, x_t].
  std::vector<double> belief = stationary_, next(states_);
  double nll = 0;
  for (int64_t t = 0; t < n; ++t) {
    const int64_t x = tokens[t];
    SB_CHECK(x < vocab_, "token outside the HMM's vocabulary");
    double px = 0;
    for (int64_t s = 0; s < states_; ++s) {
      belief[s] *= emission_[s * vocab_ + x];
      px += belief[s];
    }
    if (t >= skip) nll -= std::log(px);
    std::fill(next.begin(), next.end(), 0.0);
    for (int64_t i = 0; i < states_; ++i) {
      const double b = belief[i] / px;
      for (int64_t j = 0; j < states_; ++j) next[j] += b * transition_[i * states_ + j];
    }
    belief.swap(next);
  }
  return nll;
}

}  // namespace scalebed
