// Dataset opening (shards, raw files, text, synthetic) and deterministic batches.
#include "data/data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "data/splitmix.h"
#include "data/synthetic_hmm.h"
#include "data/token_meta.h"
#include "util/error.h"
#include "util/file_crc32.h"
#include "util/fs.h"
#include "util/log.h"
#include "util/parse.h"

namespace scalebed {
namespace {

// Splits each segment into a head (train) and a tail (validation) part.
void tail_split(const std::vector<TokenSegment>& all, double val_fraction,
                std::vector<TokenSegment>& train, std::vector<TokenSegment>& val) {
  for (const auto& s : all) {
    const int64_t n_val = static_cast<int64_t>(s.length * val_fraction);
    train.push_back(s.slice(0, s.length - n_val));
    val.push_back(s.slice(s.length - n_val, s.length));
  }
}

std::vector<TokenSegment> open_files(const std::string& pattern, const std::string& format) {
  std::vector<TokenSegment> out;
  for (const auto& path : expand_glob(pattern)) out.push_back(open_token_file(path, format));
  return out;
}

std::vector<TokenSegment> tokenize_text_file(const std::string& path, const Tokenizer& tok) {
  const std::string text = read_file(path);
  if (text.empty()) fail_at(path, "text file is empty");
  return {make_owned_segment(tok.encode(text), path)};
}

}  // namespace

uint64_t mix_seed(uint64_t seed, uint64_t a, uint64_t b) {
  return splitmix64(splitmix64(splitmix64(seed) ^ a) ^ (b * 0xD1B54A32D192ED03ull));
}

int64_t Dataset::train_tokens() const {
  int64_t n = 0;
  for (const auto& s : train) n += s.length;
  return n;
}
int64_t Dataset::val_tokens() const {
  int64_t n = 0;
  for (const auto& s : val) n += s.length;
  return n;
}

namespace {

// Prepared shards against what their meta.json says, and the config against
// both: ids inside the tokenizer's vocabulary, model.vocab covering it, and
// data.tokenizer the very file the shards were made with. The tokenizer's
// vocabulary becomes the data's (ids it never used included).
void check_against_meta(const TokenMeta& meta, const DataConfig& cfg, int64_t model_vocab,
                        Dataset& d) {
  if (d.vocab > meta.vocab) {
    fail_at(meta.path, "the shards hold id ", d.vocab - 1,
            ", outside the tokenizer's vocabulary of ", meta.vocab, " (\"vocab\")");
  }
  if (model_vocab > 0 && model_vocab < meta.vocab) {
    fail_at("model.vocab", model_vocab, " is smaller than the tokenizer's vocabulary of ",
            meta.vocab, " (", meta.path, ")");
  }
  d.vocab = meta.vocab;
  d.tokenizer_mask_id = meta.mask_id;
  if (!cfg.tokenizer.empty() && cfg.tokenizer != "byte" && meta.tokenizer_crc32) {
    const uint32_t crc = file_crc32(cfg.tokenizer).first;
    if (crc != *meta.tokenizer_crc32) {
      fail_at("data.tokenizer", cfg.tokenizer, " is not the tokenizer the shards were made with (",
              meta.path, ": tokenizer ", meta.tokenizer, ", CRC32 ", *meta.tokenizer_crc32,
              "; this file's CRC32 is ", crc, ")");
    }
  }
}

}  // namespace

Dataset open_dataset(const DataConfig& cfg, int64_t model_vocab, int64_t context) {
  Dataset d;
  if (cfg.source == "synthetic") {
    const auto& sc = cfg.synthetic;
    auto hmm = std::make_shared<SyntheticHmm>(sc.states, sc.vocab, sc.concentration, sc.seed);
    d.train.push_back(make_owned_segment(hmm->sample(sc.train_tokens, mix_seed(sc.seed, 1, 0)),
                                         "synthetic-train"));
    d.val.push_back(
        make_owned_segment(hmm->sample(sc.val_tokens, mix_seed(sc.seed, 2, 0)), "synthetic-val"));
    d.vocab = sc.vocab;
    d.exact = hmm;
    d.description = "synthetic HMM (" + std::to_string(sc.states) + " states, vocab " +
                    std::to_string(sc.vocab) + ")";
  } else if (cfg.source == "zipf_markov") {
    const auto& zc = cfg.zipf_markov;
    ZipfMarkovOptions o;
    o.components = zc.components;
    o.vocab = zc.vocab;
    o.successors = zc.successors;
    o.concentration = zc.concentration;
    o.zipf_exponent = zc.zipf_exponent;
    o.noise = zc.noise;
    o.seed = static_cast<uint64_t>(zc.seed);
    auto source = std::make_shared<ZipfMarkov>(o);
    d.vocab = zc.vocab;
    d.exact = source;
    d.generator = source;
    d.description = "Zipf-Markov mixture (" + std::to_string(zc.components) + " chains, vocab " +
                    std::to_string(zc.vocab) + ", " + std::to_string(zc.successors) +
                    " successors, Zipf a " + strprintf("%g", zc.zipf_exponent) +
                    (zc.noise > 0 ? strprintf(", noise %g", zc.noise) : std::string()) + ")";
  } else if (cfg.source == "text") {
    auto tok = std::shared_ptr<const Tokenizer>(make_tokenizer(cfg.tokenizer));
    auto all = tokenize_text_file(cfg.path, *tok);
    // The text's own bytes per token, over the file the training reads.
    int64_t all_tokens = 0;
    for (const auto& seg : all) all_tokens += seg.length;
    const auto bytes = static_cast<double>(std::filesystem::file_size(cfg.path));
    if (bytes > 0) {
      d.nll_to_bpb = all_tokens / (bytes * std::log(2.0));
      d.nll_to_bpb_source = "the tokens per byte of " + cfg.path;
    }
    if (cfg.val_path.empty()) {
      tail_split(all, cfg.val_fraction, d.train, d.val);
    } else {
      d.train = all;
      d.val = tokenize_text_file(cfg.val_path, *tok);
    }
    d.vocab = tok->vocab_size();
    d.tokenizer = tok;
    d.description = "text " + cfg.path + " (" + tok->describe() + ")";
  } else {
    // Shards made by trainer prepare or scripts/prepare_data.py carry
    // meta.json beside them.
    const auto meta = read_token_meta(cfg.path);
    if (meta && cfg.nll_to_bpb == "auto" && meta->tokens > 0 && meta->bytes > 0) {
      d.nll_to_bpb =
          static_cast<double>(meta->tokens) / (static_cast<double>(meta->bytes) * std::log(2.0));
      d.nll_to_bpb_source = meta->path;
    }
    auto all = open_files(cfg.path, cfg.format);
    if (cfg.val_path.empty()) {
      tail_split(all, cfg.val_fraction, d.train, d.val);
    } else {
      d.train = all;
      d.val = open_files(cfg.val_path, cfg.format);
    }
    std::vector<TokenSegment> every = d.train;
    every.insert(every.end(), d.val.begin(), d.val.end());
    d.vocab = max_token(every) + 1;
    d.description = "tokens " + cfg.path;
    if (meta) check_against_meta(*meta, cfg, model_vocab, d);
    // A tokenizer named for token files decodes samples (trainer sample).
    if (!cfg.tokenizer.empty() && cfg.tokenizer != "byte") {
      d.tokenizer = std::shared_ptr<const Tokenizer>(make_tokenizer(cfg.tokenizer));
      d.description += " (" + d.tokenizer->describe() + ")";
    }
  }
  if (cfg.nll_to_bpb == "off" || d.generator || cfg.source == "synthetic") {
    d.nll_to_bpb = 0, d.nll_to_bpb_source.clear();
  } else if (cfg.nll_to_bpb != "auto") {
    d.nll_to_bpb = *parse_real(cfg.nll_to_bpb);
    d.nll_to_bpb_source = "data.nll_to_bpb";
  }
  if (model_vocab > 0) {
    if (d.generator && model_vocab < d.vocab) {
      fail_at("model.vocab", model_vocab, " is smaller than data.zipf_markov.vocab = ", d.vocab);
    }
    std::vector<TokenSegment> every = d.train;
    every.insert(every.end(), d.val.begin(), d.val.end());
    check_vocab(every, model_vocab);
    d.vocab = model_vocab;
  }
  if (d.generator) return d;  // windows are generated: no token counts to check
  const std::string where = cfg.source == "synthetic" ? "data.synthetic" : cfg.path;
  if (d.train_tokens() <= context) {
    fail_at(where, "only ", d.train_tokens(),
            " training tokens; need more than model.context = ", context);
  }
  if (d.val_tokens() <= context) {
    fail_at(cfg.val_path.empty() ? where : cfg.val_path, "only ", d.val_tokens(),
            " held-out tokens; need more than model.context = ", context,
            " (raise data.val_fraction or give data.val_path)");
  }
  return d;
}

WindowIndex::WindowIndex(std::vector<TokenSegment> segments, int64_t window,
                         const std::string& what)
    : segments_(std::move(segments)), window_(window) {
  for (const auto& s : segments_) {
    starts_.push_back(total_);
    total_ += std::max<int64_t>(0, s.length - window + 1);
  }
  if (total_ == 0) {
    fail_at(what, "no segment holds a full window of ", window, " tokens");
  }
}

void WindowIndex::copy(int64_t index, int64_t* out) const {
  SB_CHECK(index >= 0 && index < total_);
  const size_t seg = std::upper_bound(starts_.begin(), starts_.end(), index) - starts_.begin() - 1;
  const TokenSegment& s = segments_[seg];
  const int64_t offset = index - starts_[seg];
  for (int64_t i = 0; i < window_; ++i) out[i] = s.at(offset + i);
}

BatchSource::BatchSource(const Dataset& data, int64_t context, uint64_t seed)
    : generator_(data.generator), exact_(data.exact), window_(context + 1), seed_(seed) {
  if (!generator_) {
    train_.emplace(data.train, window_, "training data");
    val_.emplace(data.val, window_, "validation data");
  }
}

namespace {
// Generated windows: training windows are drawn from the run's seed, held-out
// windows from a fixed stream that no run's seed reaches.
constexpr uint64_t kHeldOutStream = 0x48454C442D4F5554ull;  // "HELD-OUT"

void generate(const ZipfMarkov& g, uint64_t window_seed, int64_t n, int64_t* out) {
  std::vector<uint32_t> w(n);
  g.sample_window(window_seed, n, w.data());
  std::copy(w.begin(), w.end(), out);
}
}  // namespace

std::vector<int64_t> BatchSource::train_rows(int64_t step, int64_t row_begin, int64_t rows) const {
  std::vector<int64_t> out(rows * window_);
  for (int64_t r = 0; r < rows; ++r) {
    const uint64_t h =
        mix_seed(seed_, static_cast<uint64_t>(step), static_cast<uint64_t>(row_begin + r));
    if (generator_) {
      generate(*generator_, h, window_, out.data() + r * window_);
      continue;
    }
    // Unbiased enough for any realistic count: (h * n) >> 64.
    const auto index = static_cast<int64_t>(
        (static_cast<unsigned __int128>(h) * static_cast<uint64_t>(train_->count())) >> 64);
    train_->copy(index, out.data() + r * window_);
  }
  return out;
}

void BatchSource::val_window(int64_t row, int64_t total_rows, int64_t* out) const {
  if (generator_) {
    generate(*generator_, mix_seed(kHeldOutStream, static_cast<uint64_t>(row), 0), window_, out);
    return;
  }
  // Evenly spaced windows; with few held-out tokens they may overlap.
  const auto index =
      static_cast<int64_t>((static_cast<unsigned __int128>(row) * val_->count()) / total_rows);
  val_->copy(index, out);
}

std::vector<int64_t> BatchSource::val_rows(int64_t row_begin, int64_t rows,
                                           int64_t total_rows) const {
  std::vector<int64_t> out(rows * window_);
  for (int64_t r = 0; r < rows; ++r)
    val_window(row_begin + r, total_rows, out.data() + r * window_);
  return out;
}

std::optional<double> BatchSource::optimal_val_loss(int64_t total_rows, int64_t begin,
                                                    int64_t end) const {
  if (!exact_) return std::nullopt;
  SB_CHECK(0 <= begin && begin < end && end <= window_);
  double nll = 0;
  std::vector<int64_t> w(window_);
  std::vector<uint32_t> tokens(window_);
  for (int64_t r = 0; r < total_rows; ++r) {
    val_window(r, total_rows, w.data());
    std::copy(w.begin(), w.end(), tokens.begin());
    nll += exact_->window_nll(tokens.data(), end, begin);
  }
  return nll / static_cast<double>(total_rows * (end - begin));
}

}  // namespace scalebed
