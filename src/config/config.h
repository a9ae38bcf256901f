// The typed run config: what one training run needs, loaded from YAML with
// inheritance and overrides, validated against a schema (unknown keys, wrong
// types and impossible values are errors naming the key and file:line).
//
// Public header of config/: load_run_config() is the one entry point; the
// schema (every key, its type, default and meaning) is what `trainer --help`
// prints.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "config/flat_config.h"

namespace scalebed {

struct ModelConfig {
  int64_t layers, d_model, heads, context, vocab, mlp_ratio;
  bool qk_norm, attention_sink;
  double soft_cap;  // attention-logit soft-cap; 0 = off
  double rope_theta, norm_eps;
  std::string attention;    // auto | sdpa | explicit | blockwise
  int64_t attention_block;  // keys per block of the blockwise kernel
  std::string init_from;    // a `trainer export` folder: a fresh run's starting weights
  int64_t head_dim() const { return d_model / heads; }
};

struct ParameterizationConfig {
  std::string kind;    // standard | completep
  double init_std;     // standard: every matrix; completep: the token embedding
  double hidden_init;  // completep: hidden matrices ~ N(0, (hidden_init/√d)²)
  double base_width;   // completep: d_base (hidden LR × d_base/d, ε × d_base/d, wd × d/d_base)
  double base_depth;   // completep: L_base (residual branches × L_base/L, ε × L_base/L)
  double head_base;    // completep: LM-head output multiplier head_base/d
  double vector_lr;    // completep: LR multiplier of embedding, head, gains, biases, sink
};

struct ObjectiveConfig {
  std::string kind;  // ar | diffusion
  // Diffusion (GIDD in log-SNR form, diffusion.md):
  std::string noise;      // masked | low-uniform | balanced | high-uniform | uniform | custom
  double mixing_shift;    // b of s(λ) = σ(a·λ + b): from `noise`, or given when custom
  double mixing_scale;    // a
  std::string weighting;  // elbo (unbiased) | paper (w clipped, as the released code trains)
  double weight_clip;     // paper weighting: w clipped to [0, weight_clip]
  double lambda_min, lambda_max;
  double per_token_lambda_fraction;     // share of sequences with a λ per token
  int64_t eval_lambdas;                 // stratified λ per validation sequence
  std::string loss_reduction = "mean";  // mean | sum (over the step's scored tokens)
  int64_t mask_id = -1;  // diffusion: the tokenizer's own mask id K; -1: one id past the data's
  double prompt_fraction = 0;  // diffusion: share of training rows with a clean, unscored prefix
};

struct SyntheticConfig {
  int64_t states, vocab, train_tokens, val_tokens, seed;
  double concentration;  // Dirichlet concentration of transition rows
};

// The Zipf-weighted mixture of sparse Markov chains (data/zipf_markov.h).
struct ZipfMarkovConfig {
  int64_t components, vocab, successors, seed;
  double concentration, zipf_exponent;
  double noise = 0.0;  // share of uniformly drawn next tokens
};

struct DataConfig {
  std::string source;     // synthetic | zipf_markov | tokens | text
  std::string path;       // glob of token files, or a text file
  std::string val_path;   // optional held-out file(s); else a tail split
  std::string format;     // auto | llmc | raw_u16 | raw_u32
  std::string tokenizer;  // byte | path to a SentencePiece .model
  double val_fraction;
  SyntheticConfig synthetic;
  ZipfMarkovConfig zipf_markov;
  std::string nll_to_bpb = "auto";  // auto | off | a factor: val_bpb = val_loss x factor
};

struct OptimConfig {
  std::string name;                                       // adamw | laprop
  double lr, beta1, beta2, eps, weight_decay, grad_clip;  // beta2 resolved when "auto"
};

struct ScheduleConfig {
  std::string kind;  // constant | cosine | wsd
  int64_t warmup_steps;
  double cooldown_fraction, min_lr_ratio;
};

struct TrainConfig {
  int64_t batch_size;   // global batch in sequences (resolved from batch_tokens)
  int64_t micro_batch;  // 0 until resolved when micro_batch_auto
  bool micro_batch_auto;
  double memory_budget_gib;  // for micro_batch: auto; 0 = auto (device_memory_budget)
  int64_t steps;             // resolved from train.tokens when that is given
  int64_t eval_every, eval_batches, eval_sequences, log_every, checkpoint_every, keep_checkpoints;
  std::string precision;                 // fp32 | bf16 (autocast compute, fp32 state)
  bool tf32;                             // CUDA: TF32 for fp32 matmuls
  std::string activation_checkpointing;  // none | blocks
  // Held-out windows per evaluation: eval_sequences, else eval_batches
  // micro-batches (which then differ between runs of different batch sizes).
  int64_t eval_rows() const {
    return eval_sequences > 0 ? eval_sequences : eval_batches * micro_batch;
  }
};

struct DistributedConfig {
  double bucket_mb, timeout_s;  // gradient bucket size; rendezvous/collective timeout
  std::string shard;            // none | optimizer (ZeRO-1) | gradients (ZeRO-2)
};

struct RunConfig {
  std::string name, out_dir, device, source_path;
  int64_t seed, threads;
  ModelConfig model;
  ParameterizationConfig parameterization;
  ObjectiveConfig objective;
  DataConfig data;
  OptimConfig optim;
  ScheduleConfig schedule;
  TrainConfig train;
  DistributedConfig distributed;
  bool tensorboard;     // logging.tensorboard: RUN/tb/ event files beside metrics.jsonl
  FlatConfig resolved;  // every key with its value (defaults filled in)

  std::string run_dir() const { return out_dir + "/" + name; }
  int64_t tokens_per_step() const { return train.batch_size * model.context; }
  std::string resolved_yaml() const;
};

struct SchemaEntry {
  std::string key, type, default_text, help;
  std::vector<std::string> choices;  // for type "enum"
};
const std::vector<SchemaEntry>& config_schema();
// The schema by key (the sweep scheduler's expansion, resume checks).
const std::map<std::string, const SchemaEntry*>& schema_by_key();

// β2 of the paper's rule for `optim.beta2: auto`: 0.99 for batches of up to
// 128 sequences, 0.98 above (the paper used 0.98 from 256 sequences on).
double auto_beta2(int64_t batch_sequences);

// Loads, inherits, overrides and validates. Throws Error on the first problem.
RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides);

// Validates an already flat config (used by the sweep scheduler and tests).
RunConfig build_run_config(FlatConfig flat, const std::string& source_path);

// `trainer --help` text for the config keys.
std::string describe_config_schema();

}  // namespace scalebed
