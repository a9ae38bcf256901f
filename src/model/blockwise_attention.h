// Blockwise ("flash-style") attention from LibTorch ops, with the paper's
// attention-logit soft-cap and attention-sink slot, as a custom autograd
// function.
//
// Forward: an online softmax over key blocks of `block` keys. The sink slot
// (one learned key/value per head, never masked) seeds the running maximum,
// sum and accumulator; each key block then updates them. Only the output and
// the per-row log-sum-exp are kept for backward.
// Backward: recomputes each block's probabilities from q, k and the saved
// log-sum-exp (FlashAttention-2's recurrence, through the soft-cap's tanh).
// Peak memory is O(B·H·T·block) instead of the explicit kernel's O(B·H·T²);
// saved for backward: q, k, v, the output in fp32 and the log-sum-exp.
// Scores, soft-cap, softmax statistics, the accumulator and the softmax's
// backward (dP) are fp32 whatever the input precision; the other matmuls run
// in the inputs' dtype.
#pragma once

#include <torch/torch.h>

namespace scalebed {

struct BlockwiseAttentionOptions {
  double scale = 1.0;     // multiplies q·kᵀ (1/√Dh)
  double soft_cap = 0.0;  // c·tanh(s/c) on the scaled scores; 0 = off
  bool causal = true;
  int64_t block = 128;  // keys per block
};

// Prompt conditioning (a clean prefix of P_b tokens in row b): which
// (query, key) pairs it forbids, true where query i < P_b would see key
// j >= P_b: the prompt attends only to itself (and the sink), the rest of the
// row to everything. prompt_lengths (B) int64; queries first_query..+rows,
// keys first_key..+keys -> (B, 1, rows, keys) bool.
torch::Tensor prompt_blocked(const torch::Tensor& prompt_lengths, int64_t first_query, int64_t rows,
                             int64_t first_key, int64_t keys);

// q, k, v (B, H, T, Dh); sink_key, sink_value (H, Dh) or both undefined;
// prompt_lengths (B) int64 or undefined (no prompts).
// Returns (B, H, T, Dh) in q's dtype.
torch::Tensor blockwise_attention(const torch::Tensor& q, const torch::Tensor& k,
                                  const torch::Tensor& v, const torch::Tensor& sink_key,
                                  const torch::Tensor& sink_value,
                                  const BlockwiseAttentionOptions& options,
                                  const torch::Tensor& prompt_lengths = {});

}  // namespace scalebed
