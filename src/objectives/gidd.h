// GIDD discrete diffusion in log-SNR form (shared/spec/diffusion.md): the
// forward process, the closed-form ELBO weights, and the per-token KL + IS
// terms of the negative ELBO, with a memory-lean autograd function for them.
//
// Vocabulary: N real tokens 0..N-1 and one mask token m = N. The model
// outputs N logits (it never predicts m), so x̂ is a softmax over real tokens.
//   α = σ(λ), β = σ(−λ), s = σ(a·λ + b), π = s·u + (1 − s)·e_m
//   q(v | x) = α·[v = x] + β·π(v),  p(v) = α·x̂(v) + β·π(v)
//   per-token negative ELBO = (w / p(λ))·(KL(q ‖ p) + IS),  p(λ) = σ(λ)σ(−λ)
#pragma once

#include <torch/torch.h>

#include <cstdint>

#include "model/chunked_head.h"

namespace scalebed::gidd {

struct NoiseProcess {
  int64_t vocab = 0;        // N, real tokens; the mask id is N
  double mixing_scale = 1;  // a
  double mixing_shift = 0;  // b
  double lambda_min = -9, lambda_max = 9;
  int64_t mask_id() const { return vocab; }
};

// Where GIDD's ids (real tokens 0..N-1, mask N) sit among the model's ids.
// By default they are the same ids (the mask one past the data's). With a
// tokenizer's own mask token K inside its vocabulary of V = N + 1 ids
// (objective.mask_id), the model's ids are the tokenizer's: real token g is
// model id g for g < K and g + 1 above, the mask is K, and the head's V
// logits include one for K that is never a prediction (dropped, as the
// released code sets it to -1e6). Shapes: ids any; logits (n, V) <-> (n, N).
struct TokenLayout {
  int64_t real_tokens = 0;  // N
  int64_t mask = -1;        // the mask's model id K; -1: N, GIDD's own ids

  bool in_vocab() const { return mask >= 0; }
  bool moves_ids() const { return mask >= 0 && mask < real_tokens; }
  torch::Tensor to_gidd(const torch::Tensor& model_ids) const;   // real tokens (the data)
  torch::Tensor to_model(const torch::Tensor& gidd_ids) const;   // real tokens and the mask
  torch::Tensor real_logits(const torch::Tensor& logits) const;  // (n, V) -> (n, N)
  torch::Tensor model_grad(const torch::Tensor& grad) const;     // (n, N) -> (n, V), 0 at K
};

// Prompt conditioning's clean prefix for a uniform r, as the released code
// draws it: the positions t <= f·(T − 1), f = arccos(1 − 2r)/π (f near 0 and
// near 1 most likely), and at most T − 1 so that every row keeps a token to score.
int64_t prompt_length(double r, int64_t T);

// s(λ) = σ(a·λ + b): the share of uniform (vs mask) noise at log-SNR λ.
torch::Tensor uniform_share(const torch::Tensor& log_snr, const NoiseProcess& p);

// λ = logit(1 − t) for t ∈ [t_min, t_max] (α = 1 − t), t_min = σ(−λ_max),
// t_max = σ(−λ_min). `u` ∈ [0, 1] gives t = t_min + u·(t_max − t_min).
torch::Tensor log_snr_from_uniform(const torch::Tensor& u, const NoiseProcess& p);

// log p(λ) = log σ(λ) + log σ(−λ), the density implied by t ~ U.
torch::Tensor log_density(const torch::Tensor& log_snr);

// z ~ q_λ(· | x): keep x with probability α; otherwise a uniform real token
// with probability s, else the mask. Uniform draws u_keep, u_kind (∈ [0,1))
// and u_token (any integer tensor, taken mod N) make it deterministic.
torch::Tensor corrupt(const torch::Tensor& x, const torch::Tensor& log_snr,
                      const torch::Tensor& u_keep, const torch::Tensor& u_kind,
                      const torch::Tensor& random_tokens, const NoiseProcess& p);

// Closed-form weight w_λ(z, x) per unit λ:
//   z = m: 1 + a·s;   z real ≠ x: 1 − a(1 − s);   z = x: (s/N)(1 − a(1 − s)) / (s/N + e^λ)
torch::Tensor elbo_weight(const torch::Tensor& log_snr, const torch::Tensor& z,
                          const torch::Tensor& x, const NoiseProcess& p);

// KL(q_λ(·|x) ‖ p_λ(·)) + IS per token, from logits (M, N) over real tokens,
// for tokens flagged `active` (others give 0 and no gradient). Computed in
// row chunks with an analytic backward, so that besides the logits only one
// (M, N) tensor (their gradient) is ever materialised.
// logits (M, N); x, z (M) int64; log_snr (M); active (M) bool -> (M) fp32.
// `chunk_elements` bounds each chunk's (rows × N) temporaries.
torch::Tensor kl_plus_is(const torch::Tensor& logits, const torch::Tensor& x,
                         const torch::Tensor& z, const torch::Tensor& log_snr,
                         const torch::Tensor& active, const NoiseProcess& p,
                         int64_t chunk_elements = int64_t{1} << 24);

// The same per-token KL + IS as a RowLoss for the chunked LM head
// (model/chunked_head.h): the logits are formed a chunk of tokens at a time
// and never held whole. x, z (M) int64 GIDD ids; log_snr (M); active (M)
// bool; the head's logits are in `layout`'s model ids.
class KlPlusIsRows : public RowLoss {
 public:
  KlPlusIsRows(torch::Tensor x, torch::Tensor z, torch::Tensor log_snr, torch::Tensor active,
               const NoiseProcess& p, const TokenLayout& layout = {})
      : x_(std::move(x)),
        z_(std::move(z)),
        log_snr_(std::move(log_snr)),
        active_(std::move(active)),
        p_(p),
        layout_(layout) {}
  torch::Tensor value(const torch::Tensor& logits, int64_t begin) const override;
  torch::Tensor grad(const torch::Tensor& logits, int64_t begin,
                     const torch::Tensor& grad_out) const override;

 private:
  torch::Tensor x_, z_, log_snr_, active_;
  NoiseProcess p_;
  TokenLayout layout_;
};

// The same quantity written densely over the full vocabulary including the
// mask, with plain autograd: the reference that tests compare kl_plus_is to.
torch::Tensor kl_plus_is_reference(const torch::Tensor& logits, const torch::Tensor& x,
                                   const torch::Tensor& z, const torch::Tensor& log_snr,
                                   const NoiseProcess& p);

}  // namespace scalebed::gidd
