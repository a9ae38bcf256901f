// A synthetic token source whose optimal loss is exactly computable: a random
// hidden Markov model (S states, V tokens, Dirichlet rows). The forward
// algorithm gives the exact negative log-likelihood of any token window under
// the true process, so a trained model's loss can be checked against the
// floor that no model can beat on the same windows.
#pragma once

#include <cstdint>
#include <vector>

#include "data/exact_source.h"

namespace scalebed {

class SyntheticHmm : public ExactSource {
 public:
  SyntheticHmm(int64_t states, int64_t vocab, double concentration, uint64_t seed);

  // A stream of n tokens started from the stationary distribution.
  std::vector<uint32_t> sample(int64_t n, uint64_t stream_seed) const;

  // Exact -log p(x[skip..n) | x[0..skip)) in nats, the chain started from the
  // stationary distribution at x[0]: the Bayes-optimal loss of a model that
  // sees the window from its first token.
  double window_nll(const uint32_t* tokens, int64_t n, int64_t skip) const override;

  int64_t states() const { return states_; }
  int64_t vocab() const { return vocab_; }
  const std::vector<double>& stationary() const { return stationary_; }
  const std::vector<double>& transition() const { return transition_; }  // (S, S)
  const std::vector<double>& emission() const { return emission_; }      // (S, V)

 private:
  int64_t states_, vocab_;
  std::vector<double> transition_;  // (S, S) row-major
  std::vector<double> emission_;    // (S, V) row-major
  std::vector<double> stationary_;  // (S)
};

}  // namespace scalebed
