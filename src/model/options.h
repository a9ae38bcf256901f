// The backbone's shape and options as plain values (no LibTorch), so that the
// closed-form accounting, the sweep scheduler and the model share one struct.
#pragma once

#include <cstdint>

namespace scalebed {

enum class AttentionKernel { kSdpa, kExplicit, kBlockwise };

struct TransformerOptions {
  int64_t layers = 2, d_model = 64, heads = 4, context = 64, mlp_ratio = 4;
  int64_t vocab_in = 256;   // embedding rows (data vocab, + mask for diffusion)
  int64_t vocab_out = 256;  // head outputs
  bool causal = true, qk_norm = true, attention_sink = true;
  double soft_cap = 0.0, rope_theta = 10000.0, norm_eps = 1e-6;
  AttentionKernel kernel = AttentionKernel::kSdpa;
  int64_t attention_block = 128;  // keys per block of the blockwise kernel
  // Forward in bf16 under autocast (matmuls, attention); weights, the
  // residual stream, norms' statistics and the logits stay fp32.
  bool bf16 = false;
  // Activation checkpointing: each block keeps only its input and is run
  // again in backward.
  bool checkpoint_blocks = false;
  double residual_scale = 1.0, head_scale = 1.0;
  int64_t head_dim() const { return d_model / heads; }
};

}  // namespace scalebed
