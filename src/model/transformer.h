// The backbone shared by both objectives (model.md): a pre-norm transformer
//   x += r·Attn(RMSNorm(x));  x += r·MLP(RMSNorm(x));  logits = h·Head(RMSNorm(x))
// with (1+w) RMSNorm gains, QK-norm over the full width, NeoX RoPE, ReLU² MLP
// with biases, an optional attention-logit soft-cap and attention-sink slot,
// and an untied head. Causal for autoregressive training, bidirectional for
// diffusion. Public header of model/.
#pragma once

#include <torch/torch.h>

#include "config/config.h"
#include "model/accounting.h"
#include "model/chunked_head.h"
#include "model/options.h"
#include "model/parameterization.h"

namespace scalebed {

// Options from the config; `causal` comes from the objective, vocabularies
// from the data and objective.
TransformerOptions make_transformer_options(const ModelConfig& m, const Parameterization& p,
                                            bool causal, int64_t vocab_in, int64_t vocab_out);

// RMSNorm with gain (1 + w), w initialised to 0; computed in fp32.
class RMSNormImpl : public torch::nn::Module {
 public:
  RMSNormImpl(int64_t dim, double eps);
  torch::Tensor forward(const torch::Tensor& x);  // (..., dim)
  torch::Tensor weight;

 private:
  double eps_;
};
TORCH_MODULE(RMSNorm);

// Rotary position embedding, NeoX layout (the two halves of the head dim rotate together).
torch::Tensor apply_rope(const torch::Tensor& x, const torch::Tensor& cos,
                         const torch::Tensor& sin);  // x (B, H, T, Dh); cos/sin (T, Dh/2)

class AttentionImpl : public torch::nn::Module {
 public:
  explicit AttentionImpl(const TransformerOptions& o);
  // x (B, T, d) -> (B, T, d); rope cos/sin (T, Dh/2); prompt_lengths (B) or undefined
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& prompt_lengths = {});
  torch::nn::Linear q{nullptr}, k{nullptr}, v{nullptr}, o{nullptr};
  RMSNorm q_norm{nullptr}, k_norm{nullptr};
  torch::Tensor sink_key, sink_value;  // (H, Dh) each, when the sink is on
  TransformerOptions options;
};
TORCH_MODULE(Attention);

// softmax(q·kᵀ/√Dh [soft-capped] [+ sink slot] [causal] [prompts]) · v on
// (B, H, T, Dh) tensors, by the chosen kernel. prompt_lengths (B) int64, or
// undefined: row b's first P_b tokens attend only to each other (and the
// sink); see prompt_blocked(). Exposed for the kernel-agreement tests.
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                     const torch::Tensor& sink_key, const torch::Tensor& sink_value,
                     const TransformerOptions& o, AttentionKernel kernel,
                     const torch::Tensor& prompt_lengths = {});

class MlpImpl : public torch::nn::Module {
 public:
  explicit MlpImpl(const TransformerOptions& o);
  torch::Tensor forward(const torch::Tensor& x);  // (B, T, d) -> (B, T, d)
  torch::nn::Linear up{nullptr}, down{nullptr};
};
TORCH_MODULE(Mlp);

class BlockImpl : public torch::nn::Module {
 public:
  explicit BlockImpl(const TransformerOptions& o);
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& cos, const torch::Tensor& sin,
                        const torch::Tensor& prompt_lengths = {});
  RMSNorm attn_norm{nullptr}, mlp_norm{nullptr};
  Attention attn{nullptr};
  Mlp mlp{nullptr};
  double residual_scale;
};
TORCH_MODULE(Block);

class TransformerImpl : public torch::nn::Module {
 public:
  explicit TransformerImpl(const TransformerOptions& o);
  // tokens (B, T) int64 -> final hidden states (B, T, d), after the final norm;
  // prompt_lengths (B) int64: clean prefixes that attend only to themselves
  torch::Tensor hidden(const torch::Tensor& tokens, const torch::Tensor& prompt_lengths = {});
  // final hidden (…, d) -> logits (…, vocab_out) in fp32
  torch::Tensor logits(const torch::Tensor& hidden);
  torch::Tensor forward(const torch::Tensor& tokens) { return logits(hidden(tokens)); }
  // final hidden (…, d) -> per-token loss (… flattened) in fp32 through the
  // head in chunks of tokens (model/chunked_head.h): what training and
  // evaluation use, so that (tokens × vocab) logits are never held whole.
  torch::Tensor head_loss(const torch::Tensor& hidden, c10::intrusive_ptr<RowLoss> loss);

  // Initialises every parameter by its group's rule (seeded by the caller).
  void initialize(const Parameterization& p);

  const TransformerOptions& options() const { return options_; }
  torch::nn::Embedding embed{nullptr};
  torch::nn::ModuleList blocks{nullptr};
  RMSNorm final_norm{nullptr};
  torch::nn::Linear head{nullptr};

 private:
  TransformerOptions options_;
  torch::Tensor rope_cos_, rope_sin_;  // (context, Dh/2) buffers
};
TORCH_MODULE(Transformer);

// The parameter counts read off a built model (tests compare them with the
// closed form of accounting.h).
ParamCounts count_params(TransformerImpl& model);

}  // namespace scalebed
