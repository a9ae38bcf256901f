// Token sources and batches: llm.c / raw readers on good and corrupt files,
// tokenizers, the synthetic HMM's exact likelihood against brute-force
// enumeration, and the determinism that exact resume and data parallelism
// rely on.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <sentencepiece_trainer.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <map>
#include <set>

#include "data/data.h"
#include "data/prepare.h"
#include "data/synthetic_hmm.h"
#include "data/token_files.h"
#include "data/tokenizer.h"
#include "test_util.h"
#include "util/error.h"

namespace scalebed {
namespace {
using testing::read_text;
using testing::TempDir;
using testing::write_text;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

std::string llmc_bytes(int32_t magic, int32_t version, int32_t n, const void* data, size_t bytes) {
  int32_t header[256] = {0};
  header[0] = magic;
  header[1] = version;
  header[2] = n;
  std::string out(reinterpret_cast<const char*>(header), sizeof header);
  out.append(static_cast<const char*>(data), bytes);
  return out;
}

TEST(TokenFiles, LlmcShardRoundTripBothWidths) {
  TempDir dir;
  std::vector<uint32_t> small = {1, 2, 3, 65535, 0};
  write_llmc_shard(dir / "a.bin", small);
  TokenSegment a = open_token_file(dir / "a.bin", "auto");
  EXPECT_EQ(a.width, 2);
  ASSERT_EQ(a.length, 5);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(a.at(i), small[i]);

  std::vector<uint32_t> wide = {7, 131071, 70000};
  write_llmc_shard(dir / "b.bin", wide);
  TokenSegment b = open_token_file(dir / "b.bin", "llmc");
  EXPECT_EQ(b.width, 4);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(b.at(i), wide[i]);
}

TEST(TokenFiles, RawFiles) {
  TempDir dir;
  uint16_t u16[] = {5, 6, 7, 8};
  write_text(dir / "r16.bin", std::string(reinterpret_cast<char*>(u16), sizeof u16));
  TokenSegment s = open_token_file(dir / "r16.bin", "raw_u16");
  EXPECT_EQ(s.length, 4);
  EXPECT_EQ(s.at(3), 8);
  uint32_t u32[] = {100000, 3};
  write_text(dir / "r32.bin", std::string(reinterpret_cast<char*>(u32), sizeof u32));
  s = open_token_file(dir / "r32.bin", "raw_u32");
  EXPECT_EQ(s.at(0), 100000);
}

TEST(TokenFiles, CorruptFilesGiveErrorsNamingTheFile) {
  TempDir dir;
  uint16_t toks[4] = {1, 2, 3, 4};
  write_text(dir / "magic.bin", llmc_bytes(12345, 1, 4, toks, sizeof toks));
  EXPECT_NE(error_of([&] {
              open_token_file(dir / "magic.bin", "llmc");
            }).find("magic.bin: bad llm.c magic 12345"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              open_token_file(dir / "magic.bin", "auto");
            }).find("set data.format to raw_u16"),
            std::string::npos);

  write_text(dir / "version.bin", llmc_bytes(kLlmcMagicU16, 3, 4, toks, sizeof toks));
  EXPECT_NE(
      error_of([&] { open_token_file(dir / "version.bin", "auto"); }).find("unsupported version 3"),
      std::string::npos);

  write_text(dir / "short.bin", llmc_bytes(kLlmcMagicU16, 1, 10, toks, sizeof toks));
  const std::string e = error_of([&] { open_token_file(dir / "short.bin", "auto"); });
  EXPECT_NE(e.find("short.bin: size mismatch: header says 10 tokens"), std::string::npos) << e;

  write_text(dir / "header.bin", std::string(100, '\0'));
  EXPECT_NE(
      error_of([&] { open_token_file(dir / "header.bin", "llmc"); }).find("truncated llm.c shard"),
      std::string::npos);

  write_text(dir / "odd.bin", "abc");
  EXPECT_NE(
      error_of([&] { open_token_file(dir / "odd.bin", "raw_u16"); }).find("not a whole number"),
      std::string::npos);

  EXPECT_NE(error_of([&] {
              open_token_file(dir / "absent.bin", "auto");
            }).find("absent.bin: cannot open"),
            std::string::npos);
}

TEST(TokenFiles, VocabularyCheckNamesFileAndPosition) {
  TempDir dir;
  write_llmc_shard(dir / "v.bin", {1, 2, 300, 4});
  TokenSegment s = open_token_file(dir / "v.bin", "auto");
  EXPECT_EQ(max_token({s}), 300);
  const std::string e = error_of([&] { check_vocab({s}, 256); });
  EXPECT_NE(e.find("v.bin: token 300 at position 2 is outside the vocabulary of 256"),
            std::string::npos)
      << e;
}

TEST(Dataset, ShardGlobWithValidationFiles) {
  TempDir dir;
  std::vector<uint32_t> a(500), b(300), v(200);
  for (size_t i = 0; i < a.size(); ++i) a[i] = i % 50;
  for (size_t i = 0; i < b.size(); ++i) b[i] = 50 + i % 10;
  for (size_t i = 0; i < v.size(); ++i) v[i] = i % 7;
  write_llmc_shard(dir / "train_000.bin", a);
  write_llmc_shard(dir / "train_001.bin", b);
  write_llmc_shard(dir / "val_000.bin", v);
  DataConfig cfg;
  cfg.source = "tokens";
  cfg.path = dir / "train_*.bin";
  cfg.val_path = dir / "val_*.bin";
  cfg.format = "auto";
  Dataset d = open_dataset(cfg, 0, 16);
  EXPECT_EQ(d.train.size(), 2u);
  EXPECT_EQ(d.train_tokens(), 800);
  EXPECT_EQ(d.vocab, 60);  // largest id + 1
  EXPECT_NE(error_of([&] { open_dataset(cfg, 40, 16); }).find("outside the vocabulary of 40"),
            std::string::npos);

  // Every window lies inside one shard: windows from train_001 hold only ids >= 50.
  BatchSource batches(d, 16, 0);
  for (int step = 0; step < 50; ++step) {
    auto rows = batches.train_rows(step, 0, 8);
    for (int r = 0; r < 8; ++r) {
      const bool second = rows[r * 17] >= 50;
      for (int i = 0; i < 17; ++i) EXPECT_EQ(rows[r * 17 + i] >= 50, second);
    }
  }
}

// Batches of a dataset at context 8: a pure function of (seed, step, row);
// two "ranks" taking halves of the rows see exactly the full batch; held-out
// rows do not depend on the run's seed.
void expect_batches_are_pure_functions(const Dataset& d) {
  BatchSource a(d, 8, 42), b(d, 8, 42), c(d, 8, 43);
  EXPECT_EQ(a.window(), 9);
  EXPECT_EQ(a.train_rows(7, 0, 4), b.train_rows(7, 0, 4));
  EXPECT_NE(a.train_rows(7, 0, 4), a.train_rows(8, 0, 4));
  EXPECT_NE(a.train_rows(7, 0, 4), c.train_rows(7, 0, 4));
  auto full = a.train_rows(3, 0, 6);
  auto first = a.train_rows(3, 0, 3), second = a.train_rows(3, 3, 3);
  first.insert(first.end(), second.begin(), second.end());
  EXPECT_EQ(full, first);
  EXPECT_EQ(a.val_rows(0, 4, 8), c.val_rows(0, 4, 8));
}

TEST(Batches, PureFunctionOfSeedStepAndRow) {
  DataConfig cfg;
  cfg.source = "synthetic";
  cfg.synthetic = {8, 16, 5000, 500, 3, 0.1};
  expect_batches_are_pure_functions(open_dataset(cfg, 0, 8));
}

// p(x_1..n) by summing over every hidden path: an independent check of the
// forward algorithm.
double brute_force_nll(const SyntheticHmm& h, const std::vector<uint32_t>& x) {
  const int S = h.states(), V = h.vocab(), n = x.size();
  const auto& A = h.transition();
  const auto& E = h.emission();
  double total = 0;
  std::vector<int> path(n, 0);
  while (true) {
    double p = h.stationary()[path[0]] * E[path[0] * V + x[0]];
    for (int t = 1; t < n; ++t) p *= A[path[t - 1] * S + path[t]] * E[path[t] * V + x[t]];
    total += p;
    int t = 0;
    while (t < n && ++path[t] == S) path[t++] = 0;
    if (t == n) break;
  }
  return -std::log(total);
}

TEST(SyntheticHmm, ForwardAlgorithmMatchesPathEnumeration) {
  SyntheticHmm h(3, 4, 0.5, 99);
  for (uint64_t seed = 0; seed < 5; ++seed) {
    auto x = h.sample(6, seed);
    EXPECT_NEAR(h.window_nll(x.data(), 6, 0), brute_force_nll(h, x), 1e-9);
  }
}

TEST(SyntheticHmm, LikelihoodIsANormalisedDistribution) {
  SyntheticHmm h(3, 4, 0.5, 99);
  // All 4^4 sequences' probabilities sum to one, and the conditional form
  // (skip = 1) is the joint minus the first token's marginal.
  double joint = 0;
  for (int code = 0; code < 256; ++code) {
    std::vector<uint32_t> x = {uint32_t(code & 3), uint32_t(code >> 2 & 3), uint32_t(code >> 4 & 3),
                               uint32_t(code >> 6 & 3)};
    joint += std::exp(-h.window_nll(x.data(), 4, 0));
    EXPECT_NEAR(h.window_nll(x.data(), 4, 1),
                h.window_nll(x.data(), 4, 0) - h.window_nll(x.data(), 1, 0), 1e-9);
  }
  EXPECT_NEAR(joint, 1.0, 1e-10);
}

TEST(SyntheticHmm, SampleStatisticsMatchTheLikelihood) {
  // The per-token NLL of a long sample under the true model converges to the
  // entropy rate; the optimal loss on validation windows lies above it
  // (windows start without history) but below the unigram entropy.
  DataConfig cfg;
  cfg.source = "synthetic";
  cfg.synthetic = {16, 32, 200000, 40000, 1234, 0.02};
  Dataset d = open_dataset(cfg, 0, 64);
  BatchSource batches(d, 64, 0);
  const double floor = *batches.optimal_val_loss(256, 1, 65);
  std::vector<double> counts(32, 0);
  for (int64_t i = 0; i < d.val[0].length; ++i) counts[d.val[0].at(i)] += 1;
  double unigram = 0;
  for (double c : counts) {
    if (c > 0) unigram -= c / d.val[0].length * std::log(c / d.val[0].length);
  }
  EXPECT_LT(floor, 0.8 * unigram);  // the source has real sequential structure
  EXPECT_GT(floor, 0.5);
}

// The Zipf-Markov mixture (data/zipf_markov.h): its likelihood against a
// direct sum over components, normalisation, the sampler against the
// likelihood (Monte Carlo), and the trainer's floor against a Monte Carlo
// estimate of the expected optimal loss.
// Each test runs without and with noise (uniformly drawn next tokens).
ZipfMarkovOptions small_mixture(double noise) {
  ZipfMarkovOptions o;
  o.components = 5, o.vocab = 4, o.successors = 2, o.concentration = 0.7, o.zipf_exponent = 0.5;
  o.seed = 11;
  o.noise = noise;
  return o;
}
const double kNoiseLevels[] = {0.0, 0.3};

// −log Σ_k π_k (1/V) Π P_k(x_t | x_t−1): every component summed, none pruned.
double direct_nll(const ZipfMarkov& z, const std::vector<uint32_t>& x) {
  double p = 0;
  for (int64_t k = 0; k < z.options().components; ++k) {
    double pk = z.weights()[k] / z.options().vocab;
    for (size_t t = 1; t < x.size(); ++t) pk *= z.transition(k, x[t - 1], x[t]);
    p += pk;
  }
  return -std::log(p);
}

TEST(ZipfMarkov, LikelihoodIsTheMixtureOverEveryComponent) {
  for (double noise : kNoiseLevels) {
    SCOPED_TRACE(noise);
    const ZipfMarkov z(small_mixture(noise));
    for (uint64_t seed = 0; seed < 20; ++seed) {
      std::vector<uint32_t> x(7);
      z.sample_window(seed, 7, x.data());
      EXPECT_NEAR(z.window_nll(x.data(), 7, 0), direct_nll(z, x), 1e-10);
      // The conditional form: the whole window minus its head.
      const std::vector<uint32_t> head(x.begin(), x.begin() + 3);
      EXPECT_NEAR(z.window_nll(x.data(), 7, 3), direct_nll(z, x) - direct_nll(z, head), 1e-10);
      // p(x) >= π_k·p_k(x): the mixture never loses more than −log π_k to the
      // oracle that is told the component.
      const int64_t k = z.component_of(seed);
      EXPECT_LE(z.window_nll(x.data(), 7, 0),
                z.component_nll(k, x.data(), 7, 0) - std::log(z.weights()[k]) + 1e-12);
    }
    // Each token has exactly `successors` listed next tokens, weights summing to
    // one; with noise every token has at least ε/V.
    for (int64_t k = 0; k < 5; ++k) {
      for (int64_t a = 0; a < 4; ++a) {
        double sum = 0;
        int above_noise = 0;
        for (int64_t b = 0; b < 4; ++b) {
          sum += z.transition(k, a, b);
          above_noise += z.transition(k, a, b) > noise / 4 + 1e-12;
          EXPECT_GE(z.transition(k, a, b), noise / 4);
        }
        EXPECT_NEAR(sum, 1.0, 1e-12);
        EXPECT_EQ(above_noise, 2);
      }
    }
  }
}

TEST(ZipfMarkov, LikelihoodIsANormalisedDistribution) {
  for (double noise : kNoiseLevels) {
    SCOPED_TRACE(noise);
    const ZipfMarkov z(small_mixture(noise));
    double total = 0;
    for (int code = 0; code < 4 * 4 * 4 * 4 * 4; ++code) {
      std::vector<uint32_t> x(5);
      for (int t = 0, c = code; t < 5; ++t, c /= 4) x[t] = c % 4;
      double p = 0;
      for (int64_t k = 0; k < 5; ++k) {
        double pk = z.weights()[k] / 4;
        for (int t = 1; t < 5; ++t) pk *= z.transition(k, x[t - 1], x[t]);
        p += pk;
      }
      if (p > 0) {  // a sequence no component can produce has probability 0
        EXPECT_NEAR(std::exp(-z.window_nll(x.data(), 5, 0)), p, 1e-14);
      } else {
        EXPECT_EQ(noise, 0.0);  // with noise every sequence is possible
        EXPECT_THROW(z.window_nll(x.data(), 5, 0), Error);
      }
      total += p;
    }
    EXPECT_NEAR(total, 1.0, 1e-12);
  }
}

TEST(ZipfMarkov, TheSamplerDrawsWindowsWithTheLikelihoodsProbabilities) {
  // Monte Carlo: 200,000 windows of 3 tokens; every sequence's frequency
  // against exp(−window_nll), and every component's against π_k.
  for (double noise : kNoiseLevels) {
    SCOPED_TRACE(noise);
    const ZipfMarkov z(small_mixture(noise));
    const int n = 200000;
    std::map<int, int> seen;
    std::vector<int> components(5, 0);
    for (int i = 0; i < n; ++i) {
      std::vector<uint32_t> x(3);
      z.sample_window(mix_seed(99, i, 0), 3, x.data());
      ++seen[x[0] * 16 + x[1] * 4 + x[2]];
      ++components[z.component_of(mix_seed(99, i, 0))];
    }
    for (int code = 0; code < 64; ++code) {
      const std::vector<uint32_t> x = {uint32_t(code / 16), uint32_t(code / 4 % 4),
                                       uint32_t(code % 4)};
      double p = 0;
      for (int64_t k = 0; k < 5; ++k) {
        p += z.weights()[k] / 4 * z.transition(k, x[0], x[1]) * z.transition(k, x[1], x[2]);
      }
      const double freq = static_cast<double>(seen[code]) / n;
      EXPECT_NEAR(freq, p, 5 * std::sqrt(p * (1 - p) / n) + 1e-12) << code;
      if (p > 0) EXPECT_NEAR(p, std::exp(-z.window_nll(x.data(), 3, 0)), 1e-14);
    }
    for (int k = 0; k < 5; ++k) {
      const double p = z.weights()[k];
      EXPECT_NEAR(static_cast<double>(components[k]) / n, p, 5 * std::sqrt(p * (1 - p) / n));
    }
    // π_k ∝ k^−(1+a).
    EXPECT_NEAR(z.weights()[0] / z.weights()[3], std::pow(4.0, 1.5), 1e-9);
  }
}

TEST(ZipfMarkov, TheTrainersFloorIsTheMonteCarloOptimalLoss) {
  // The default source (data.zipf_markov.*) with the ladder's context of 64:
  // the floor the trainer prints for next-token prediction (tokens 1..64 of
  // 256 held-out windows) against the expected optimal loss estimated on
  // 20,000 fresh windows, within their standard errors. The oracle that is
  // told the component bounds it from below (the component's information
  // about the window is I(X; K) >= 0), and p(x) >= π_k p_k(x) from above.
  DataConfig cfg;
  cfg.source = "zipf_markov";
  cfg.zipf_markov = {4096, 64, 2, 1234, 1.0, 1.0};
  const Dataset d = open_dataset(cfg, 0, 64);
  ASSERT_TRUE(d.generator && d.exact);
  EXPECT_EQ(d.vocab, 64);
  BatchSource batches(d, 64, 0);
  const int64_t rows = 256;
  const double floor = *batches.optimal_val_loss(rows, 1, 65);
  double floor_sq = 0;
  for (int64_t r = 0; r < rows; ++r) {
    auto w = batches.val_rows(r, 1, rows);
    const std::vector<uint32_t> x(w.begin(), w.end());
    floor_sq += std::pow(d.exact->window_nll(x.data(), 65, 1) / 64, 2);
  }
  const double floor_se = std::sqrt((floor_sq / rows - floor * floor) / rows);
  const ZipfMarkov& z = *d.generator;
  const int n = 20000;
  double sum = 0, sum_sq = 0, oracle = 0, prior_cost = 0;
  for (int i = 0; i < n; ++i) {
    std::vector<uint32_t> x(65);
    const uint64_t seed = mix_seed(7, i, 1);
    z.sample_window(seed, 65, x.data());
    const double v = z.window_nll(x.data(), 65, 1) / 64;
    sum += v, sum_sq += v * v;
    const int64_t k = z.component_of(seed);
    oracle += z.component_nll(k, x.data(), 65, 1) / 64 / n;
    prior_cost -= std::log(z.weights()[k]) / 64 / n;
  }
  const double mc = sum / n, mc_se = std::sqrt((sum_sq / n - mc * mc) / n);
  EXPECT_NEAR(floor, mc, 3 * std::hypot(floor_se, mc_se)) << floor << " vs " << mc;
  EXPECT_GT(mc, oracle);
  EXPECT_LT(mc, oracle + prior_cost + 1e-12);
  // The source has structure far below the uniform log 64 = 4.16 nats.
  EXPECT_LT(mc, 1.0);
  EXPECT_GT(mc, 0.2);
}

TEST(ZipfMarkov, GeneratedBatchesArePureFunctionsAndHeldOutWindowsAreFixed) {
  DataConfig cfg;
  cfg.source = "zipf_markov";
  cfg.zipf_markov = {256, 16, 2, 5, 1.0, 0.5};
  const Dataset d = open_dataset(cfg, 0, 8);
  expect_batches_are_pure_functions(d);
  // Generated held-out rows do not depend on how many are asked for either.
  BatchSource a(d, 8, 42), c(d, 8, 43);
  EXPECT_EQ(a.val_rows(0, 4, 8), c.val_rows(0, 4, 100));
  const auto full = a.train_rows(3, 0, 6);
  for (int64_t t : full) EXPECT_LT(t, 16);
  // A model vocabulary may be larger than the source's, never smaller.
  EXPECT_EQ(open_dataset(cfg, 20, 8).vocab, 20);
  EXPECT_NE(error_of([&] {
              open_dataset(cfg, 8, 8);
            }).find("model.vocab: 8 is smaller than data.zipf_markov.vocab = 16"),
            std::string::npos)
      << error_of([&] { open_dataset(cfg, 8, 8); });
}

TEST(Tokenizers, ByteRoundTrip) {
  auto tok = make_tokenizer("byte");
  const std::string text = "héllo\n\tworld \xff";
  auto ids = tok->encode(text);
  EXPECT_EQ(ids.size(), text.size());
  EXPECT_EQ(tok->decode(std::vector<int64_t>(ids.begin(), ids.end())), text);
  EXPECT_EQ(tok->vocab_size(), 256);
}

TEST(Tokenizers, SentencePieceTrainEncodeDecode) {
  TempDir dir;
  std::string corpus;
  for (int i = 0; i < 300; ++i) {
    corpus += "the quick brown fox jumps over the lazy dog number " + std::to_string(i % 17) + "\n";
  }
  write_text(dir / "corpus.txt", corpus);
  const auto status = sentencepiece::SentencePieceTrainer::Train(
      "--input=" + (dir / "corpus.txt") + " --model_prefix=" + (dir / "sp") +
      " --vocab_size=60 --model_type=bpe --minloglevel=2");
  ASSERT_TRUE(status.ok()) << status.ToString();
  auto tok = make_tokenizer(dir / "sp.model");
  EXPECT_EQ(tok->vocab_size(), 60);
  auto ids = tok->encode("the lazy fox");
  EXPECT_LT(ids.size(), 12u);  // merges happened
  EXPECT_EQ(tok->decode(std::vector<int64_t>(ids.begin(), ids.end())), "the lazy fox");
  EXPECT_EQ(tok->eos_id(), 2);  // SentencePiece's default: unk 0, bos 1, eos 2
  EXPECT_EQ(make_tokenizer("byte")->eos_id(), -1);
  // prepare --eos: each input file is one document, ended by the EOS id.
  write_text(dir / "doc2.txt", "the lazy dog\n");
  PrepareOptions o;
  o.inputs = {dir / "corpus.txt", dir / "doc2.txt"};
  o.out_dir = dir / "shards";
  o.tokenizer = dir / "sp.model";
  o.val_fraction = 0.5;
  o.eos = true;
  const PrepareResult r = prepare_shards(o);
  std::vector<int64_t> stream;  // the shards in order: train, then val
  for (const auto& path : r.files) {
    const TokenSegment seg = open_token_file(path, "auto");
    for (int64_t k = 0; k < seg.length; ++k) stream.push_back(seg.at(k));
  }
  ASSERT_EQ(static_cast<int64_t>(stream.size()), r.train_tokens + r.val_tokens);
  EXPECT_EQ(std::count(stream.begin(), stream.end(), 2), 2);  // one per document
  EXPECT_EQ(stream.back(), 2);
  EXPECT_EQ(nlohmann::json::parse(read_text(dir / "shards/meta.json")).at("eos_id"), 2);
  o.tokenizer = "byte";
  EXPECT_NE(error_of([&] { prepare_shards(o); }).find("--eos: the tokenizer 'byte' has no"),
            std::string::npos);
  EXPECT_NE(error_of([&] { make_tokenizer(dir / "missing.model"); }).find("not found"),
            std::string::npos);
  // A path the system refuses is an Error naming it, not a filesystem_error.
  const std::string too_long = dir / (std::string(5000, 'm') + ".model");
  EXPECT_NE(error_of([&] {
              make_tokenizer(too_long);
            }).find("SentencePiece model: cannot access: File name too long"),
            std::string::npos);
}

TEST(Prepare, TextToShardsAndBack) {
  TempDir dir;
  std::string text;
  for (int i = 0; i < 2000; ++i) text += char('a' + i % 26);
  write_text(dir / "in.txt", text);
  PrepareOptions o;
  o.inputs = {dir / "in.txt"};
  o.out_dir = dir / "shards";
  o.val_fraction = 0.1;
  o.shard_tokens = 700;
  PrepareResult r = prepare_shards(o);
  EXPECT_EQ(r.train_tokens, 1800);
  EXPECT_EQ(r.val_tokens, 200);
  EXPECT_EQ(r.files.size(), 4u);  // 3 train shards (700, 700, 400) + 1 val
  // meta.json beside them: the bytes behind the tokens (1 per byte here).
  const auto meta = nlohmann::json::parse(read_text(dir / "shards/meta.json"));
  EXPECT_EQ(meta.at("bytes"), 2000);
  EXPECT_EQ(meta.at("tokens"), 2000);
  EXPECT_EQ(meta.at("vocab"), 256);

  DataConfig cfg;
  cfg.source = "tokens";
  cfg.path = dir / "shards/train_*.bin";
  cfg.val_path = dir / "shards/val_*.bin";
  cfg.format = "auto";
  Dataset d = open_dataset(cfg, 256, 16);
  EXPECT_EQ(d.train_tokens(), 1800);
  std::string back;
  for (const auto& s : d.train)
    for (int64_t i = 0; i < s.length; ++i) back.push_back(char(s.at(i)));
  EXPECT_EQ(back, text.substr(0, 1800));
}

// prepare streams: pieces of read_bytes (cut after a newline) tokenized one
// at a time, shards written as they fill, the held-out tail cut at its byte
// (never inside a UTF-8 character). With the byte tokenizer the stream must
// be the files' bytes exactly, whatever the piece size.
TEST(Prepare, StreamsInPiecesAndCutsTheTailAtACharacterBoundary) {
  TempDir dir;
  std::string a, b;
  for (int i = 0; i < 300; ++i) a += "line " + std::to_string(i) + (i % 3 ? " é\n" : "\n");
  for (int i = 0; i < 40; ++i) b += "second file, no final newline " + std::to_string(i);
  write_text(dir / "a.txt", a);
  write_text(dir / "b.txt", b);
  const std::string all = a + b;
  for (int64_t read_bytes : {int64_t{7}, int64_t{50}, int64_t{1} << 20}) {
    PrepareOptions o;
    o.inputs = {dir / "a.txt", dir / "b.txt"};
    o.out_dir = dir / ("shards" + std::to_string(read_bytes));
    o.val_fraction = 0.3;
    o.shard_tokens = 333;
    o.read_bytes = read_bytes;
    const PrepareResult r = prepare_shards(o);
    std::string stream;
    for (const auto& path : r.files) {
      const TokenSegment seg = open_token_file(path, "auto");
      for (int64_t k = 0; k < seg.length; ++k) stream.push_back(static_cast<char>(seg.at(k)));
    }
    EXPECT_EQ(stream, all) << "read_bytes " << read_bytes;
    // The tail: 30% of the bytes, moved past a continuation byte if it fell on
    // one (it does here: the boundary is the second byte of an é).
    size_t cut = all.size() - static_cast<size_t>(std::llround(all.size() * 0.3));
    while ((static_cast<unsigned char>(all[cut]) & 0xC0) == 0x80) ++cut;
    EXPECT_EQ(r.train_tokens, static_cast<int64_t>(cut)) << "read_bytes " << read_bytes;
    EXPECT_EQ(r.val_tokens, static_cast<int64_t>(all.size() - cut));
    EXPECT_EQ(r.files.front(), o.out_dir + "/train_000000.bin");  // train shards first
    const size_t train_shards = (cut + 332) / 333, val_shards = (all.size() - cut + 332) / 333;
    ASSERT_EQ(r.files.size(), train_shards + val_shards);
    EXPECT_EQ(r.files[train_shards], o.out_dir + "/val_000000.bin");
  }
}

TEST(Dataset, TextSourceTailSplitAndTooLittleData) {
  TempDir dir;
  write_text(dir / "t.txt", std::string(1000, 'x'));
  DataConfig cfg;
  cfg.source = "text";
  cfg.path = dir / "t.txt";
  cfg.tokenizer = "byte";
  cfg.val_fraction = 0.1;
  Dataset d = open_dataset(cfg, 0, 32);
  EXPECT_EQ(d.train_tokens(), 900);
  EXPECT_EQ(d.val_tokens(), 100);
  EXPECT_EQ(d.vocab, 256);
  const std::string e = error_of([&] { open_dataset(cfg, 0, 128); });
  EXPECT_NE(e.find("held-out tokens"), std::string::npos) << e;
}

}  // namespace
TEST(Tokenizer, ByteLevelBpeTokenizerJsonDecodesThroughTheByteAlphabet) {
  // A tokenizer.json as Hugging Face writes a GPT-2-style byte-level BPE
  // (the diffusion paper's nemotron-cc-bpe is one): "Ġ" is the space byte,
  // "Ċ" the newline, "Ã©" the two bytes of "é"; added tokens print verbatim.
  testing::TempDir dir;
  testing::write_text(dir / "tokenizer.json", R"({
    "added_tokens": [{"id": 5, "content": "<|mask|>", "special": true}],
    "pre_tokenizer": {"type": "ByteLevel"}, "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"the": 0, "Ġcat": 1, "Ġsat": 2, "Ċ": 3, "Ã©": 4},
              "merges": []}})");
  const auto tok = make_tokenizer(dir / "tokenizer.json");
  EXPECT_EQ(tok->vocab_size(), 6);
  EXPECT_EQ(tok->decode({0, 1, 2, 3}), "the cat sat\n");
  EXPECT_EQ(tok->decode({4, 5}), "\xc3\xa9<|mask|>");
  EXPECT_EQ(tok->decode({99}), "?");
  try {
    tok->encode("the cat");
    ADD_FAILURE() << "encoding was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("tokenizer.json: encoding with a tokenizer.json is not"),
              std::string::npos)
        << e.what();
  }
  // Not byte-level: refused, naming the file.
  testing::write_text(dir / "wordpiece.json", R"({"model": {"type": "WordPiece", "vocab": {}}})");
  try {
    make_tokenizer(dir / "wordpiece.json");
    ADD_FAILURE() << "a WordPiece tokenizer.json was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("wordpiece.json: only byte-level BPE"), std::string::npos)
        << e.what();
  }
}

}  // namespace scalebed
