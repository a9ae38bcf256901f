// The config schema and its validation into a typed RunConfig.
#include "config/config.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "util/error.h"
#include "util/parse.h"

namespace scalebed {
namespace {

// clang-format off
const std::vector<SchemaEntry> kSchema = {
  {"name", "string", "", "run name; the run directory is out_dir/name (default: the config file's stem)", {}},
  {"out_dir", "string", "runs", "parent directory of run directories", {}},
  {"seed", "int", "0", "seed of initialisation, data windows and noise", {}},
  {"device", "enum", "cpu", "where to train", {"cpu", "cuda", "auto"}},
  {"threads", "int", "1", "CPU intra-op threads (0 = LibTorch's default); 1 is fastest for tiny models on 2 cores", {}},

  {"model.layers", "int", "2", "transformer blocks L", {}},
  {"model.d_model", "int", "64", "width d", {}},
  {"model.heads", "int", "4", "attention heads (d_model must divide by it)", {}},
  {"model.context", "int", "64", "context length T in tokens", {}},
  {"model.vocab", "int", "0", "vocabulary size; 0 = take it from the data", {}},
  {"model.mlp_ratio", "int", "4", "MLP hidden width = mlp_ratio * d_model", {}},
  {"model.qk_norm", "bool", "true", "RMSNorm over the full q and k before splitting heads", {}},
  {"model.attention_sink", "bool", "true", "a learned key/value slot per head that every query may attend to", {}},
  {"model.soft_cap", "float", "0", "attention-logit soft-cap c (c*tanh(s/c)); 0 = off (the paper uses 30)", {}},
  {"model.rope_theta", "float", "10000", "RoPE base", {}},
  {"model.norm_eps", "float", "1e-6", "RMSNorm epsilon", {}},
  {"model.attention", "enum", "auto", "attention kernel: sdpa (fused), explicit (reference, keeps (B,H,T,T) scores), blockwise (online softmax over key blocks, memory O(T*block)); auto = sdpa, or blockwise when the soft-cap is on", {"auto", "sdpa", "explicit", "blockwise"}},
  {"model.attention_block", "int", "128", "keys per block of the blockwise attention kernel", {}},
  {"model.init_from", "string", "", "a `trainer export` folder whose model.safetensors gives a fresh run its starting weights (names and shapes must match; the optimizer starts fresh); a run that has a checkpoint resumes from it instead", {}},

  {"parameterization.kind", "enum", "standard", "init and per-group LR/WD/eps rules: standard (fixed LR, N(0, init_std^2)) or completep (model.md)", {"standard", "completep"}},
  {"parameterization.init_std", "float", "0.02", "standard: std of every weight matrix; completep: std of the token embedding", {}},
  {"parameterization.hidden_init", "float", "0.4", "completep: hidden matrices ~ N(0, (hidden_init/sqrt(d))^2)", {}},
  {"parameterization.base_width", "float", "1", "completep: d_base; hidden LR x d_base/d, eps x d_base/d, weight decay x d/d_base", {}},
  {"parameterization.base_depth", "float", "4", "completep: L_base; residual branches x L_base/L, eps x L_base/L", {}},
  {"parameterization.head_base", "float", "512", "completep: LM-head output multiplier head_base/d (head zero-initialised)", {}},
  {"parameterization.vector_lr", "float", "0.02", "completep: LR multiplier of the embedding, head, norm gains, biases and sink", {}},

  {"objective.kind", "enum", "ar", "training objective: autoregressive (causal) or discrete diffusion (bidirectional)", {"ar", "diffusion"}},
  {"objective.noise", "enum", "masked", "diffusion noise: mixing shift b = -1000, -2, 0, 2, 1000 (custom: objective.mixing_shift)", {"masked", "low-uniform", "balanced", "high-uniform", "uniform", "custom"}},
  {"objective.mixing_shift", "float", "0", "diffusion: b of s(lambda) = sigmoid(a*lambda + b); only read when objective.noise is custom", {}},
  {"objective.mixing_scale", "float", "1", "diffusion: a of s(lambda) = sigmoid(a*lambda + b)", {}},
  {"objective.weighting", "enum", "paper", "diffusion training loss: elbo (unbiased, w/p(lambda)) or paper (w clipped, as the released code trains); the ELBO is always logged", {"paper", "elbo"}},
  {"objective.weight_clip", "float", "1000", "diffusion, paper weighting: clip w to [0, weight_clip]", {}},
  {"objective.lambda_min", "float", "-9", "diffusion: smallest log-SNR", {}},
  {"objective.lambda_max", "float", "9", "diffusion: largest log-SNR", {}},
  {"objective.loss_reduction", "enum", "mean", "mean: the step's loss is the mean over its scored tokens; sum: their sum (the mean x batch x scored positions), as the diffusion paper's released code trains (args.py --loss_aggregation sum). Under LaProp/Adam only the epsilon and the gradient clip see the difference; the logged loss is the mean either way", {"mean", "sum"}},
  {"objective.mask_id", "int", "-1", "diffusion: the mask token's id. -1: one id past the data's vocabulary (model.vocab + 1 embedding rows); K: the tokenizer's own mask token inside its vocabulary (the paper's <|mask|>): model.vocab rows, the data must never hold K, and the head's logit for K is never a prediction", {}},
  {"objective.prompt_fraction", "float", "0", "diffusion: share of training sequences given a clean prefix (prompt conditioning, as the released code trains: 0.2). The prefix is the first floor(f*(T-1))+1 tokens (at most T-1), f = arccos(1-2r)/pi with r uniform; it is never noised, not scored, and attends only to itself (and the sink), while the rest of the sequence attends to everything. Evaluation stays unconditional", {}},
  {"objective.per_token_lambda_fraction", "float", "0", "diffusion: share of training sequences that draw a lambda per token (the released code: 0.2)", {}},
  {"objective.eval_lambdas", "int", "4", "diffusion: stratified lambdas per validation sequence (fixed across runs)", {}},

  {"data.source", "enum", "synthetic", "token source: synthetic (HMM), zipf_markov (a mixture whose loss scales), token files, or text", {"synthetic", "zipf_markov", "tokens", "text"}},
  {"data.path", "string", "", "tokens: file or glob of shards; text: a UTF-8 text file", {}},
  {"data.val_path", "string", "", "held-out data (same kind as data.path); empty = the last val_fraction of data.path", {}},
  {"data.format", "enum", "auto", "token file format", {"auto", "llmc", "raw_u16", "raw_u32"}},
  {"data.tokenizer", "string", "byte", "text: 'byte' or the path of a SentencePiece .model; token files: a .model or a byte-level BPE tokenizer.json (decode only) that `trainer sample` prints text with", {}},
  {"data.val_fraction", "float", "0.05", "share of the tokens held out when data.val_path is empty", {}},
  {"data.nll_to_bpb", "string", "auto", "nats/token -> bits/byte factor (tokens / (bytes * ln 2)) for val_bpb: auto (text: from its bytes and tokens; token files: from meta.json beside data.path, which trainer prepare writes), off, or a number (the diffusion paper's data: 0.34124)", {}},
  {"data.synthetic.states", "int", "16", "hidden states of the synthetic HMM", {}},
  {"data.synthetic.vocab", "int", "32", "tokens emitted by the synthetic HMM", {}},
  {"data.synthetic.concentration", "float", "0.02", "Dirichlet concentration of HMM rows (smaller = more predictable)", {}},
  {"data.synthetic.train_tokens", "int", "2000000", "length of the training stream", {}},
  {"data.synthetic.val_tokens", "int", "65536", "length of the held-out stream", {}},
  {"data.synthetic.seed", "int", "1234", "seed of the HMM itself (not of the run)", {}},
  {"data.zipf_markov.components", "int", "4096", "Markov chains in the mixture; chain k generates a window with probability proportional to k^-(1+zipf_exponent)", {}},
  {"data.zipf_markov.vocab", "int", "64", "tokens shared by all chains", {}},
  {"data.zipf_markov.successors", "int", "2", "possible next tokens per token in each chain (sparsity)", {}},
  {"data.zipf_markov.concentration", "float", "1.0", "Dirichlet concentration of the successor weights", {}},
  {"data.zipf_markov.zipf_exponent", "float", "1.0", "a of the chain weights k^-(1+a): the excess loss of the K most frequent chains learned falls as K^-a", {}},
  {"data.zipf_markov.noise", "float", "0.0", "share of steps whose next token is drawn uniformly from the vocabulary: entropy no model can remove, which raises the floor", {}},
  {"data.zipf_markov.seed", "int", "1234", "seed of the chains' tables (not of the run)", {}},

  {"optim.name", "enum", "adamw", "optimizer: adamw, or laprop (the paper's released code)", {"adamw", "laprop"}},
  {"optim.lr", "float", "1e-3", "base learning rate", {}},
  {"optim.beta1", "float", "0.9", "", {}},
  {"optim.beta2", "float|auto", "0.99", "auto: 0.99 for batches of up to 128 sequences, 0.98 above (the paper's rule)", {}},
  {"optim.eps", "float", "1e-8", "optimizer epsilon (completep scales it by d_base/d and L_base/L)", {}},
  {"optim.weight_decay", "float", "0", "decoupled weight decay on hidden matrices", {}},
  {"optim.grad_clip", "float", "1.0", "clip the global gradient norm to this; 0 = off", {}},

  {"schedule.kind", "enum", "constant", "LR after warmup: constant, cosine decay, or warmup-stable-decay (1-sqrt cooldown)", {"constant", "cosine", "wsd"}},
  {"schedule.warmup_steps", "int", "0", "linear warmup steps", {}},
  {"schedule.cooldown_fraction", "float", "0.2", "wsd: share of the steps spent in cooldown", {}},
  {"schedule.min_lr_ratio", "float", "0.1", "cosine: final LR as a share of the base LR", {}},

  {"train.batch_size", "int", "0", "global batch in sequences (give this or train.batch_tokens)", {}},
  {"train.batch_tokens", "int", "0", "global batch in tokens; must be a multiple of model.context", {}},
  {"train.micro_batch", "int|auto", "0", "sequences per forward/backward; 0 = the whole batch; auto = the largest divisor of the batch whose memory estimate fits train.memory_budget_gib", {}},
  {"train.memory_budget_gib", "float|auto", "auto", "memory budget for micro_batch: auto; auto = 90% of the GPU's memory (10% headroom for the CUDA context and allocator fragmentation), or 8 GiB on CPU", {}},
  {"train.steps", "int", "0", "optimizer steps (give this or train.tokens)", {}},
  {"train.tokens", "int", "0", "training tokens; steps = tokens / batch tokens (rounded down)", {}},
  {"train.eval_every", "int", "100", "evaluate every K steps (and at the end); 0 = only at the end", {}},
  {"train.eval_batches", "int", "4", "held-out batches (of micro_batch sequences) per evaluation", {}},
  {"train.eval_sequences", "int", "0", "held-out sequences per evaluation, whatever the micro-batch (runs of different batch sizes see the same windows); 0 = eval_batches x micro_batch", {}},
  {"train.log_every", "int", "10", "write a metrics line every K steps", {}},
  {"train.checkpoint_every", "int", "200", "checkpoint every K steps (and at the end, and on SIGTERM/SIGUSR1); 0 = only those", {}},
  {"train.keep_checkpoints", "int", "2", "complete checkpoints kept (newest first)", {}},
  {"train.precision", "enum", "fp32", "bf16: matmuls and attention in bf16 (autocast), with fp32 master weights, optimizer state, gradients, norms' statistics, softmax and loss", {"fp32", "bf16"}},
  {"train.activation_checkpointing", "enum", "none", "blocks: keep only each transformer block's input and recompute the block in backward (less memory, about one more forward of compute)", {"none", "blocks"}},
  {"train.tf32", "bool", "true", "CUDA: fp32 matmuls on TF32 tensor cores (no effect on CPU)", {}},

  {"logging.tensorboard", "bool", "true", "write TensorBoard event files (RUN/tb/) from the metrics lines; tensorboard --logdir on a sweep's out_dir compares its runs", {}},
  {"distributed.bucket_mb", "float", "25", "data parallel: gradient bucket size; each bucket is all-reduced as soon as its gradients are complete", {}},
  {"distributed.shard", "enum", "none", "data parallel: none (every rank keeps all optimizer state), optimizer (ZeRO-1: each rank keeps and updates 1/world of it; gradients reduce-scattered, weights all-gathered) or gradients (ZeRO-2: also every micro-step's gradients leave at once, no full gradient kept)", {"none", "optimizer", "gradients"}},
  {"distributed.timeout_s", "float", "300", "data parallel: how long a rank waits for the others (rendezvous, collectives) before failing", {}},
};
// clang-format on

class Reader {
 public:
  explicit Reader(const FlatConfig& flat) : flat_(flat) {}

  const ConfigValue& value(const std::string& key) const { return flat_.at(key); }
  std::string where(const std::string& key) const { return value(key).location + ": " + key; }

  std::string str(const std::string& key) const { return value(key).text; }

  int64_t integer(const std::string& key) const {
    const std::string& t = value(key).text;
    const auto v = parse_integer(t);
    if (!v) fail_at(where(key), "expected an integer, got '", t, "'");
    return *v;
  }

  double real(const std::string& key) const {
    const std::string& t = value(key).text;
    const auto v = parse_real(t);
    if (!v) fail_at(where(key), "expected a number, got '", t, "'");
    // Every real ends up in float32 somewhere (a tensor, an optimizer step).
    if (!std::isfinite(*v) || std::abs(*v) > std::numeric_limits<float>::max()) {
      fail_at(where(key), "expected a finite number within float range (|x| <= 3.4e38), got '", t,
              "'");
    }
    return *v;
  }

  bool boolean(const std::string& key) const {
    const std::string& t = value(key).text;
    if (t == "true" || t == "True" || t == "yes" || t == "on") return true;
    if (t == "false" || t == "False" || t == "no" || t == "off") return false;
    fail_at(where(key), "expected true or false, got '", t, "'");
  }

  // Constraint helpers: the message names the key and where it was set.
  void require(bool ok, const std::string& key, const std::string& why) const {
    if (!ok) fail_at(where(key), "", why, " (value '", value(key).text, "')");
  }

 private:
  const FlatConfig& flat_;
};

std::string closest_key(const std::string& key) {
  // Suggest the schema key with the smallest edit distance.
  auto distance = [](const std::string& a, const std::string& b) {
    std::vector<size_t> row(b.size() + 1);
    for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (size_t i = 1; i <= a.size(); ++i) {
      size_t prev = row[0];
      row[0] = i;
      for (size_t j = 1; j <= b.size(); ++j) {
        size_t cur = row[j];
        row[j] = std::min({row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] != b[j - 1])});
        prev = cur;
      }
    }
    return row[b.size()];
  };
  std::string best;
  size_t best_d = 4;  // suggest only close matches
  for (const auto& e : kSchema) {
    size_t d = distance(key, e.key);
    if (d < best_d) {
      best_d = d;
      best = e.key;
    }
  }
  return best;
}

void check_types(const FlatConfig& flat) {
  Reader r(flat);
  for (const auto& e : kSchema) {
    const bool is_auto = r.str(e.key) == "auto";
    if (e.type == "int" || (e.type == "int|auto" && !is_auto)) r.integer(e.key);
    if (e.type == "float" || (e.type == "float|auto" && !is_auto)) r.real(e.key);
    if (e.type == "bool") r.boolean(e.key);
    if (e.type == "enum") {
      const std::string v = r.str(e.key);
      bool ok = false;
      std::string list;
      for (const auto& c : e.choices) {
        ok = ok || c == v;
        list += (list.empty() ? "" : ", ") + c;
      }
      if (!ok) fail_at(r.where(e.key), "expected one of {", list, "}, got '", v, "'");
    }
  }
}

}  // namespace

const std::map<std::string, const SchemaEntry*>& schema_by_key() {
  static const auto* index = [] {
    auto* m = new std::map<std::string, const SchemaEntry*>;
    for (const auto& e : kSchema) (*m)[e.key] = &e;
    return m;
  }();
  return *index;
}

const std::vector<SchemaEntry>& config_schema() {
  return kSchema;
}

double auto_beta2(int64_t batch_sequences) {
  return batch_sequences <= 128 ? 0.99 : 0.98;
}

std::string RunConfig::resolved_yaml() const {
  std::vector<std::string> order;
  for (const auto& e : kSchema) order.push_back(e.key);
  return to_yaml(resolved, order);
}

RunConfig build_run_config(FlatConfig flat, const std::string& source_path) {
  std::set<std::string> known;
  for (const auto& e : kSchema) known.insert(e.key);
  for (const auto& [key, value] : flat) {
    if (!known.count(key)) {
      std::string hint = closest_key(key);
      fail_at(value.location, "unknown key '", key, "'",
              hint.empty() ? "" : " (did you mean '" + hint + "'?)");
    }
  }
  for (const auto& e : kSchema) {
    if (!flat.count(e.key)) flat[e.key] = ConfigValue{e.default_text, "default"};
  }
  if (flat["name"].text.empty() && !source_path.empty()) {
    flat["name"] = ConfigValue{std::filesystem::path(source_path).stem().string(), "default"};
  }
  check_types(flat);
  Reader r(flat);

  RunConfig c;
  c.source_path = source_path;
  c.name = r.str("name");
  c.out_dir = r.str("out_dir");
  c.seed = r.integer("seed");
  c.device = r.str("device");
  c.threads = r.integer("threads");
  r.require(!c.name.empty(), "name", "must not be empty");
  r.require(c.name.find('/') == std::string::npos, "name", "must not contain '/'");
  r.require(c.threads >= 0 && c.threads <= 1024, "threads", "must be in [0, 1024]");

  ModelConfig& m = c.model;
  m.layers = r.integer("model.layers");
  m.d_model = r.integer("model.d_model");
  m.heads = r.integer("model.heads");
  m.context = r.integer("model.context");
  m.vocab = r.integer("model.vocab");
  m.mlp_ratio = r.integer("model.mlp_ratio");
  m.qk_norm = r.boolean("model.qk_norm");
  m.attention_sink = r.boolean("model.attention_sink");
  m.soft_cap = r.real("model.soft_cap");
  m.rope_theta = r.real("model.rope_theta");
  m.norm_eps = r.real("model.norm_eps");
  m.attention = r.str("model.attention");
  m.attention_block = r.integer("model.attention_block");
  m.init_from = r.str("model.init_from");
  r.require(m.layers >= 1, "model.layers", "must be >= 1");
  r.require(m.d_model >= 1, "model.d_model", "must be >= 1");
  r.require(m.heads >= 1, "model.heads", "must be >= 1");
  r.require(m.d_model % m.heads == 0, "model.d_model",
            "must be divisible by model.heads = " + std::to_string(m.heads) + " (" +
                r.value("model.heads").location + ")");
  r.require(m.head_dim() % 2 == 0, "model.heads",
            "gives an odd head dimension d_model/heads; RoPE needs an even one");
  r.require(m.context >= 2, "model.context", "must be >= 2");
  r.require(m.vocab >= 0, "model.vocab", "must be >= 0 (0 = from the data)");
  r.require(m.mlp_ratio >= 1, "model.mlp_ratio", "must be >= 1");
  r.require(m.soft_cap >= 0, "model.soft_cap", "must be >= 0");
  r.require(m.attention_block >= 1, "model.attention_block", "must be >= 1");
  r.require(m.rope_theta > 0, "model.rope_theta", "must be > 0");
  r.require(m.norm_eps > 0, "model.norm_eps", "must be > 0");
  // Every count derived from a config (parameters, tokens per step, tokens of
  // a run, FLOPs) must be exact in int64 and in double; 2^53 is far above any
  // model or run this tool trains, so past it the config is a typo.
  const double kMaxCount = 9007199254740992.0;  // 2^53
  const double matrix_params = static_cast<double>(m.layers) * static_cast<double>(m.d_model) *
                               static_cast<double>(m.d_model) * (4.0 + 2.0 * m.mlp_ratio);
  r.require(matrix_params + 2.0 * static_cast<double>(m.vocab) * m.d_model <= kMaxCount,
            "model.d_model",
            "with model.layers, model.mlp_ratio and model.vocab gives more than "
            "2^53 parameters");
  r.require(!(m.attention == "sdpa" && m.soft_cap > 0), "model.attention",
            "sdpa cannot apply a soft-cap; use 'explicit' or 'auto', or set model.soft_cap: 0");

  ParameterizationConfig& pz = c.parameterization;
  pz.kind = r.str("parameterization.kind");
  pz.init_std = r.real("parameterization.init_std");
  pz.hidden_init = r.real("parameterization.hidden_init");
  pz.base_width = r.real("parameterization.base_width");
  pz.base_depth = r.real("parameterization.base_depth");
  pz.head_base = r.real("parameterization.head_base");
  pz.vector_lr = r.real("parameterization.vector_lr");
  for (const char* key : {"parameterization.init_std", "parameterization.hidden_init",
                          "parameterization.base_width", "parameterization.base_depth",
                          "parameterization.head_base", "parameterization.vector_lr"}) {
    r.require(r.real(key) > 0, key, "must be > 0");
  }

  ObjectiveConfig& ob = c.objective;
  ob.kind = r.str("objective.kind");
  ob.noise = r.str("objective.noise");
  ob.mixing_scale = r.real("objective.mixing_scale");
  ob.weighting = r.str("objective.weighting");
  ob.weight_clip = r.real("objective.weight_clip");
  ob.lambda_min = r.real("objective.lambda_min");
  ob.lambda_max = r.real("objective.lambda_max");
  ob.per_token_lambda_fraction = r.real("objective.per_token_lambda_fraction");
  ob.loss_reduction = r.str("objective.loss_reduction");
  ob.eval_lambdas = r.integer("objective.eval_lambdas");
  ob.mask_id = r.integer("objective.mask_id");
  ob.prompt_fraction = r.real("objective.prompt_fraction");
  const std::map<std::string, double> shifts = {{"masked", -1000},
                                                {"low-uniform", -2},
                                                {"balanced", 0},
                                                {"high-uniform", 2},
                                                {"uniform", 1000}};
  ob.mixing_shift = r.real("objective.mixing_shift");
  if (ob.noise != "custom") {
    const double named = shifts.at(ob.noise);
    r.require(flat.at("objective.mixing_shift").location == "default" || ob.mixing_shift == named,
              "objective.mixing_shift",
              "conflicts with objective.noise: " + ob.noise + " (set objective.noise: custom)");
    ob.mixing_shift = named;
    // The resolved config states the shift in force.
    flat["objective.mixing_shift"].text = std::to_string(static_cast<int>(named));
  }
  // Above 1 the weight of a token replaced by another real token,
  // 1 − a·(1 − s), turns negative where s < 1 − 1/a: the bound is then no
  // longer an ELBO.
  r.require(ob.mixing_scale > 0 && ob.mixing_scale <= 1, "objective.mixing_scale",
            "must be in (0, 1]: above 1 some ELBO weights are negative (no longer a bound)");
  r.require(ob.weight_clip > 0, "objective.weight_clip", "must be > 0");
  r.require(ob.lambda_min < ob.lambda_max, "objective.lambda_min",
            "must be below objective.lambda_max");
  r.require(ob.per_token_lambda_fraction >= 0 && ob.per_token_lambda_fraction <= 1,
            "objective.per_token_lambda_fraction", "must be in [0, 1]");
  r.require(ob.eval_lambdas >= 1, "objective.eval_lambdas", "must be >= 1");
  // Diffusion's keys are ignored by AR, so that one base config (the paper's)
  // serves both objectives.
  r.require(ob.prompt_fraction >= 0 && ob.prompt_fraction <= 1, "objective.prompt_fraction",
            "must be in [0, 1]");
  r.require(ob.mask_id >= -1, "objective.mask_id",
            "must be -1 (one id past the data) or an id >= 0");
  r.require(ob.mask_id < 0 || c.model.vocab == 0 || ob.mask_id < c.model.vocab, "objective.mask_id",
            "must be an id inside model.vocab");

  DataConfig& d = c.data;
  d.source = r.str("data.source");
  d.path = r.str("data.path");
  d.val_path = r.str("data.val_path");
  d.format = r.str("data.format");
  d.tokenizer = r.str("data.tokenizer");
  d.val_fraction = r.real("data.val_fraction");
  d.nll_to_bpb = r.str("data.nll_to_bpb");
  if (d.nll_to_bpb != "auto" && d.nll_to_bpb != "off") {
    const auto factor = parse_real(d.nll_to_bpb);
    r.require(factor && *factor > 0, "data.nll_to_bpb", "must be auto, off or a number > 0");
  }
  d.synthetic.states = r.integer("data.synthetic.states");
  d.synthetic.vocab = r.integer("data.synthetic.vocab");
  d.synthetic.concentration = r.real("data.synthetic.concentration");
  d.synthetic.train_tokens = r.integer("data.synthetic.train_tokens");
  d.synthetic.val_tokens = r.integer("data.synthetic.val_tokens");
  d.synthetic.seed = r.integer("data.synthetic.seed");
  ZipfMarkovConfig& z = d.zipf_markov;
  z.components = r.integer("data.zipf_markov.components");
  z.vocab = r.integer("data.zipf_markov.vocab");
  z.successors = r.integer("data.zipf_markov.successors");
  z.concentration = r.real("data.zipf_markov.concentration");
  z.zipf_exponent = r.real("data.zipf_markov.zipf_exponent");
  z.noise = r.real("data.zipf_markov.noise");
  z.seed = r.integer("data.zipf_markov.seed");
  r.require(z.components >= 1 && z.components <= 1000000, "data.zipf_markov.components",
            "must be in [1, 1000000]");
  r.require(z.vocab >= 2 && z.vocab <= 65536, "data.zipf_markov.vocab", "must be in [2, 65536]");
  r.require(z.successors >= 1 && z.successors <= z.vocab, "data.zipf_markov.successors",
            "must be in [1, data.zipf_markov.vocab]");
  r.require(z.components * z.vocab * z.successors <= 200000000, "data.zipf_markov.components",
            "components x vocab x successors must stay below 2e8 (the tables live in memory)");
  r.require(z.concentration > 0, "data.zipf_markov.concentration", "must be > 0");
  r.require(z.zipf_exponent > 0 && z.zipf_exponent <= 10, "data.zipf_markov.zipf_exponent",
            "must be in (0, 10]");
  r.require(z.noise >= 0 && z.noise < 1, "data.zipf_markov.noise", "must be in [0, 1)");
  if (d.source != "synthetic" && d.source != "zipf_markov") {
    r.require(!d.path.empty(), "data.path", "must be set when data.source is " + d.source);
  }
  r.require(d.val_fraction > 0 && d.val_fraction < 1, "data.val_fraction", "must be in (0, 1)");
  r.require(d.synthetic.states >= 1, "data.synthetic.states", "must be >= 1");
  r.require(d.synthetic.vocab >= 2, "data.synthetic.vocab", "must be >= 2");
  r.require(d.synthetic.concentration > 0, "data.synthetic.concentration", "must be > 0");
  r.require(d.synthetic.train_tokens > m.context, "data.synthetic.train_tokens",
            "must exceed model.context");
  r.require(d.synthetic.val_tokens > m.context, "data.synthetic.val_tokens",
            "must exceed model.context");

  OptimConfig& o = c.optim;
  o.name = r.str("optim.name");
  o.lr = r.real("optim.lr");
  o.beta1 = r.real("optim.beta1");
  // beta2: auto is resolved below, once the batch size is known.
  o.beta2 = r.str("optim.beta2") == "auto" ? 0.0 : r.real("optim.beta2");
  o.eps = r.real("optim.eps");
  o.weight_decay = r.real("optim.weight_decay");
  o.grad_clip = r.real("optim.grad_clip");
  r.require(o.lr > 0, "optim.lr", "must be > 0");
  r.require(o.beta1 >= 0 && o.beta1 < 1, "optim.beta1", "must be in [0, 1)");
  r.require(o.beta2 >= 0 && o.beta2 < 1, "optim.beta2", "must be in [0, 1)");
  r.require(o.eps > 0, "optim.eps", "must be > 0");
  r.require(o.weight_decay >= 0, "optim.weight_decay", "must be >= 0");
  r.require(o.grad_clip >= 0, "optim.grad_clip", "must be >= 0");

  ScheduleConfig& s = c.schedule;
  s.kind = r.str("schedule.kind");
  s.warmup_steps = r.integer("schedule.warmup_steps");
  s.cooldown_fraction = r.real("schedule.cooldown_fraction");
  s.min_lr_ratio = r.real("schedule.min_lr_ratio");
  r.require(s.warmup_steps >= 0, "schedule.warmup_steps", "must be >= 0");
  r.require(s.cooldown_fraction >= 0 && s.cooldown_fraction <= 1, "schedule.cooldown_fraction",
            "must be in [0, 1]");
  r.require(s.min_lr_ratio >= 0 && s.min_lr_ratio <= 1, "schedule.min_lr_ratio",
            "must be in [0, 1]");

  TrainConfig& t = c.train;
  int64_t batch_size = r.integer("train.batch_size");
  int64_t batch_tokens = r.integer("train.batch_tokens");
  r.require(batch_size >= 0, "train.batch_size", "must be >= 0");
  r.require(batch_tokens >= 0, "train.batch_tokens", "must be >= 0");
  r.require((batch_size > 0) != (batch_tokens > 0), "train.batch_size",
            "give exactly one of train.batch_size and train.batch_tokens");
  if (batch_tokens > 0) {
    r.require(batch_tokens % m.context == 0, "train.batch_tokens",
              "must be a multiple of model.context = " + std::to_string(m.context));
    batch_size = batch_tokens / m.context;
  }
  r.require(static_cast<double>(batch_size) * m.context <= kMaxCount, "train.batch_size",
            "times model.context is more than 2^53 tokens per step");
  t.batch_size = batch_size;
  if (r.str("optim.beta2") == "auto") o.beta2 = auto_beta2(t.batch_size);
  t.micro_batch_auto = r.str("train.micro_batch") == "auto";
  t.memory_budget_gib =
      r.str("train.memory_budget_gib") == "auto" ? 0.0 : r.real("train.memory_budget_gib");
  r.require(r.str("train.memory_budget_gib") == "auto" || t.memory_budget_gib > 0,
            "train.memory_budget_gib", "must be > 0 or auto");
  t.micro_batch = t.micro_batch_auto ? 0 : r.integer("train.micro_batch");
  if (!t.micro_batch_auto) {
    r.require(t.micro_batch >= 0, "train.micro_batch", "must be >= 0");
    if (t.micro_batch == 0) t.micro_batch = t.batch_size;
    r.require(t.batch_size % t.micro_batch == 0, "train.micro_batch",
              "must divide the batch of " + std::to_string(t.batch_size) + " sequences");
  }

  int64_t steps = r.integer("train.steps");
  int64_t tokens = r.integer("train.tokens");
  r.require(steps >= 0, "train.steps", "must be >= 0");
  r.require(tokens >= 0, "train.tokens", "must be >= 0");
  r.require((steps > 0) != (tokens > 0), "train.steps",
            "give exactly one of train.steps and train.tokens");
  if (tokens > 0) {
    steps = tokens / (t.batch_size * m.context);
    r.require(steps >= 1, "train.tokens", "is less than one batch");
  }
  r.require(static_cast<double>(steps) * static_cast<double>(t.batch_size * m.context) <= kMaxCount,
            tokens > 0 ? "train.tokens" : "train.steps", "gives more than 2^53 training tokens");
  t.steps = steps;
  t.eval_every = r.integer("train.eval_every");
  t.eval_batches = r.integer("train.eval_batches");
  t.eval_sequences = r.integer("train.eval_sequences");
  t.log_every = r.integer("train.log_every");
  t.checkpoint_every = r.integer("train.checkpoint_every");
  t.keep_checkpoints = r.integer("train.keep_checkpoints");
  t.precision = r.str("train.precision");
  t.tf32 = r.boolean("train.tf32");
  t.activation_checkpointing = r.str("train.activation_checkpointing");
  r.require(t.eval_every >= 0, "train.eval_every", "must be >= 0");
  r.require(t.eval_batches >= 1, "train.eval_batches", "must be >= 1");
  r.require(t.eval_sequences >= 0, "train.eval_sequences", "must be >= 0");
  r.require(t.log_every >= 1, "train.log_every", "must be >= 1");
  r.require(t.checkpoint_every >= 0, "train.checkpoint_every", "must be >= 0");
  r.require(t.keep_checkpoints >= 1, "train.keep_checkpoints", "must be >= 1");

  DistributedConfig& dc = c.distributed;
  dc.bucket_mb = r.real("distributed.bucket_mb");
  dc.timeout_s = r.real("distributed.timeout_s");
  dc.shard = r.str("distributed.shard");
  c.tensorboard = r.boolean("logging.tensorboard");
  r.require(dc.bucket_mb > 0, "distributed.bucket_mb", "must be > 0");
  r.require(dc.timeout_s > 0, "distributed.timeout_s", "must be > 0");

  c.resolved = flat;
  return c;
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides) {
  FlatConfig flat = load_yaml_layers(path);
  apply_overrides(flat, overrides);
  return build_run_config(std::move(flat), path);
}

std::string describe_config_schema() {
  std::ostringstream out;
  for (const auto& e : kSchema) {
    out << "  " << e.key << " (" << e.type;
    if (!e.choices.empty()) {
      out << ":";
      for (size_t i = 0; i < e.choices.size(); ++i) out << (i ? "|" : " ") << e.choices[i];
    }
    out << ", default " << (e.default_text.empty() ? "\"\"" : e.default_text) << ")";
    if (!e.help.empty()) out << "\n      " << e.help;
    out << "\n";
  }
  return out.str();
}

}  // namespace scalebed
