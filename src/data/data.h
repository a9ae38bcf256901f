// Public header of data/: token sources in, deterministic batches out.
//
// A Dataset is train and validation token segments (from shards, raw files,
// text or the synthetic HMM) plus the vocabulary, or a generator that makes
// windows on the fly (the Zipf-Markov source: no window is seen twice). A
// BatchSource turns it into windows of T+1 tokens: training row r of step s
// is a pure function of (seed, s, r), so a resumed run, or K data-parallel
// ranks that each take a slice of the rows, see exactly the batches of one
// uninterrupted run. Validation windows are fixed and the same for every run
// with the same data and context.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/exact_source.h"
#include "data/token_files.h"
#include "data/tokenizer.h"
#include "data/zipf_markov.h"

namespace scalebed {

struct Dataset {
  std::vector<TokenSegment> train, val;  // empty when `generator` makes the windows
  int64_t vocab = 0;                     // every token id is < vocab
  std::string description;
  std::shared_ptr<const Tokenizer> tokenizer;   // text sources only
  std::shared_ptr<const ExactSource> exact;     // synthetic sources: the true likelihood
  std::shared_ptr<const ZipfMarkov> generator;  // windows generated on the fly
  // nats/token -> bits/byte (tokens / (bytes·ln 2)); 0 when unknown (synthetic
  // sources, or data.nll_to_bpb off), and where it came from.
  double nll_to_bpb = 0;
  std::string nll_to_bpb_source;
  int64_t tokenizer_mask_id = -1;  // the tokenizer's own mask id (meta.json), -1: none
  int64_t train_tokens() const;
  int64_t val_tokens() const;
};

// Opens the source described by `cfg`. `model_vocab` = 0 takes the vocabulary
// from the data (tokenizer, HMM, or largest id + 1 for token files); otherwise
// every token is checked against it. Throws Error naming file and position.
Dataset open_dataset(const DataConfig& cfg, int64_t model_vocab, int64_t context);

// Uniformly indexes every window of `window` tokens that lies inside one
// segment (windows never straddle two files).
class WindowIndex {
 public:
  WindowIndex(std::vector<TokenSegment> segments, int64_t window, const std::string& what);
  int64_t count() const { return total_; }
  int64_t window() const { return window_; }
  void copy(int64_t index, int64_t* out) const;  // writes `window` ids

 private:
  std::vector<TokenSegment> segments_;
  std::vector<int64_t> starts_;  // cumulative window counts
  int64_t window_, total_ = 0;
};

class BatchSource {
 public:
  // Windows are context + 1 tokens: inputs [0, T) and next-token targets [1, T].
  BatchSource(const Dataset& data, int64_t context, uint64_t seed);

  // rows [row_begin, row_begin + rows) of the global training batch of `step`,
  // as a row-major (rows, T+1) array.
  std::vector<int64_t> train_rows(int64_t step, int64_t row_begin, int64_t rows) const;

  // Validation rows [row_begin, row_begin + rows) of a fixed set of
  // `total_rows` windows spread evenly over the held-out tokens.
  std::vector<int64_t> val_rows(int64_t row_begin, int64_t rows, int64_t total_rows) const;

  // Exact optimal mean loss (nats/token) on the same validation windows when
  // the source is synthetic: −log p(x[begin..end) | x[0..begin)) per scored
  // token (next-token prediction: [1, T+1); a whole-sequence ELBO: [0, T)).
  std::optional<double> optimal_val_loss(int64_t total_rows, int64_t begin, int64_t end) const;

  int64_t window() const { return window_; }

 private:
  void val_window(int64_t row, int64_t total_rows, int64_t* out) const;
  std::optional<WindowIndex> train_, val_;       // token segments, or
  std::shared_ptr<const ZipfMarkov> generator_;  // windows made from a seed
  std::shared_ptr<const ExactSource> exact_;
  int64_t window_;
  uint64_t seed_;
};

// A 64-bit mix of (seed, a, b): the counter-based randomness behind batches.
uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b);

}  // namespace scalebed
