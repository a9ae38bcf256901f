// A synthetic source whose loss scales: a Zipf-weighted mixture of many sparse
// Markov chains over one shared vocabulary ("quanta" in the sense of Michaud
// et al. 2023; Zipf-distributed features as in Hutter 2021).
//
// Component k (1-based) generates a window with probability π_k ∝ k^−(1+a).
// Each component is a Markov chain in which every token has `successors`
// possible next tokens (drawn at random from the vocabulary) with Dirichlet
// weights; a window starts from a uniform token and walks one component's
// chain. With `noise` ε > 0 each step instead draws the next token uniformly
// from the vocabulary with probability ε, in every component alike: entropy
// that no model can remove, which raises the floor without adding anything
// to learn (natural text has a floor of this kind, large against the
// reducible loss at the sizes a sweep studies). A model of limited capacity can only store the
// tables of the most frequent components, and a limited number of tokens only reveals the frequent
// ones: the excess loss is the mass of the components not learned, Σ_{k>K} π_k ∝ K^−a, so it falls
// as a power law in both size and data.
//
// The Bayes-optimal predictor knows every table and infers the component from
// the window: p(x_0..t) = (1/V)·Σ_k π_k·Π_i P_k(x_i | x_{i−1}). window_nll
// computes it exactly (a forward pass over the components that can still have
// produced the window; sparse tables rule most of them out after a few tokens,
// and with noise every component stays possible, so the pass visits only the
// components that list each observed transition).
// Windows are generated on the fly from a 64-bit seed, so training never
// repeats a window.
#pragma once

#include <cstdint>
#include <vector>

#include "data/exact_source.h"

namespace scalebed {

struct SplitMix;

struct ZipfMarkovOptions {
  int64_t components = 4096;
  int64_t vocab = 64;
  int64_t successors = 2;      // next-token choices per token and component
  double concentration = 1.0;  // Dirichlet concentration over those choices
  double zipf_exponent = 1.0;  // a of π_k ∝ k^−(1+a)
  double noise = 0.0;          // ε: share of steps whose next token is uniform
  uint64_t seed = 1234;        // seed of the tables (not of a run)
};

class ZipfMarkov : public ExactSource {
 public:
  explicit ZipfMarkov(const ZipfMarkovOptions& o);

  // Writes the n tokens of the window drawn with `window_seed`.
  void sample_window(uint64_t window_seed, int64_t n, uint32_t* out) const;
  // The component that window_seed draws (for tests and diagnostics).
  int64_t component_of(uint64_t window_seed) const;

  // Exact −log p(x[skip..n) | x[0..skip)) in nats under the mixture.
  double window_nll(const uint32_t* tokens, int64_t n, int64_t skip) const override;
  // −log p(x[skip..n) | x[0..skip), component k): the loss of a predictor told
  // the component (for tests: the mixture is never better than the oracle).
  double component_nll(int64_t k, const uint32_t* tokens, int64_t n, int64_t skip) const;

  const ZipfMarkovOptions& options() const { return o_; }
  const std::vector<double>& weights() const { return weights_; }  // π_k, (K)
  // P_k(next | token) = (1−ε)·(the successor's weight, 0 if not listed) + ε/V.
  double transition(int64_t k, int64_t token, int64_t next) const;

 private:
  int64_t draw_component(SplitMix& rng) const;
  double window_nll_with_noise(const uint32_t* tokens, int64_t n, int64_t skip) const;
  ZipfMarkovOptions o_;
  std::vector<double> weights_, cumulative_;  // (K)
  std::vector<uint32_t> next_;                // (K, V, successors) successor ids
  std::vector<double> prob_;                  // (K, V, successors) their probabilities
  // With noise: for each observed pair (token, next), the components that
  // list it and log(P_k(next | token) / (ε/V)), the factor by which the pair
  // favours them over the components in which it was noise.
  struct Listed {
    uint32_t component;
    double log_lift;
  };
  std::vector<std::vector<Listed>> listed_;  // (V·V)
};

}  // namespace scalebed
