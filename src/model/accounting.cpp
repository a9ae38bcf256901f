// Closed-form parameter counts, FLOPs per token and memory estimates.
#include "model/accounting.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace scalebed {

ParamCounts count_params(const TransformerOptions& o) {
  const int64_t d = o.d_model, r = o.mlp_ratio;
  ParamCounts c;
  // q,k,v,o (4d²) + MLP (2r·d² + r·d + d biases) + 2 block norms
  // (+ QK-norm gains 2d) (+ sink key/value 2d). For r = 4 with both: 12d² + 11d.
  c.per_layer = 4 * d * d + 2 * r * d * d + r * d + d + 2 * d + (o.qk_norm ? 2 * d : 0) +
                (o.attention_sink ? 2 * d : 0);
  c.non_embedding = o.layers * c.per_layer + d;  // + final norm
  c.embedding = o.vocab_in * d + o.vocab_out * d;
  c.total = c.non_embedding + c.embedding;
  if (r == 4 && o.qk_norm && o.attention_sink) {
    c.paper_table_non_embedding = o.layers * (12 * d * d + 14 * d);
  }
  return c;
}

FlopsPerToken flops_per_token(const TransformerOptions& o) {
  const double L = o.layers, d = o.d_model, T = o.context, r = o.mlp_ratio;
  const ParamCounts c = count_params(o);
  FlopsPerToken f;
  f.c6nd = 6.0 * c.non_embedding;
  f.palm = 6.0 * (c.non_embedding + o.vocab_out * d) + 12.0 * L * d * T;
  f.md = 6.0 * (4 + 2 * r) * L * d * d + 12.0 * L * d * T;
  return f;
}

MemoryEstimate estimate_memory(const TransformerOptions& o, int64_t micro_batch,
                               const RankLayout& ranks) {
  const double B = micro_batch, T = o.context, d = o.d_model, r = o.mlp_ratio, H = o.heads;
  const double P = count_params(o).total;
  MemoryEstimate m;
  // fp32 master weights, gradients and both moments, whatever the precision.
  m.params_bytes = 4 * P;
  m.grads_bytes = 4 * P;
  m.optimizer_bytes = 8 * P;
  // Per layer, in fp32 elements: norm inputs/outputs, q/k/v before and after
  // norm+rope, attention output, o-proj output (≈ 14d) and the MLP's up,
  // relu and relu² (3r·d). In bf16 the matmuls' inputs and outputs are bf16
  // but the residual stream, the norms' fp32 statistics and RoPE's fp32
  // inputs are not: 0.70 of the fp32 bytes, as measured on the CPU
  // (bench/results/memory_estimate_cpu.md).
  const double layer_share = o.bf16 ? 0.70 : 1.0;
  double per_layer = 4 * B * T * (14 * d + 3 * r * d) * layer_share;
  double transient = 0;  // the largest short-lived working set of one layer
  if (o.kernel == AttentionKernel::kExplicit) {
    const double scores = B * H * T * (T + (o.attention_sink ? 1 : 0));
    per_layer += 4 * 2 * scores;  // the capped scores' tanh and the probabilities, fp32
    transient = 4 * 2 * scores;   // backward: their gradients
  } else if (o.kernel == AttentionKernel::kBlockwise) {
    per_layer += 4 * (B * T * d + B * H * T);  // the fp32 output and log-sum-exp it saves
    // Backward of one key block: scores, tanh, probabilities, dP and dS (fp32).
    transient = 4 * 5 * B * H * T * std::min<double>(T, o.attention_block);
  }
  // The head + loss in chunks (the (tokens × vocab) logits are never whole).
  // Backward, while every activation is still alive, holds the fp32 weight
  // gradient being accumulated and one chunk's logits and their gradient (in
  // bf16 also bf16 copies of the weight, the chunk and each chunk's product):
  // 4·V·d + 7 bytes per logit of a chunk in fp32, 8·V·d + 10 in bf16, as
  // measured (bench/results/memory_estimate_cpu.md).
  const double chunk = std::min<double>(B * T, static_cast<double>(head_chunk_rows(o.vocab_out)));
  const double V_d = static_cast<double>(o.vocab_out) * d;
  const double head =
      o.bf16 ? 8 * V_d + 10 * chunk * o.vocab_out : 4 * V_d + 7 * chunk * o.vocab_out;
  // The embedding output and the final norm's output, fp32. With
  // checkpointing each block keeps its fp32 input, and one block's
  // activations exist again while it is recomputed in backward.
  const double blocks =
      o.checkpoint_blocks ? o.layers * 4 * B * T * d + per_layer : o.layers * per_layer;
  m.activation_bytes = blocks + head + 4 * 2 * B * T * d + transient;
  // The update batches of optim/ hold at most 2^24 elements unless one
  // tensor is larger: the embedding or head (vocab × d) or a hidden matrix.
  const double largest_tensor = std::max(
      {static_cast<double>(o.vocab_in) * d, static_cast<double>(o.vocab_out) * d, r * d * d});
  const double largest = std::max(largest_tensor, static_cast<double>(int64_t{1} << 24));
  const double W = static_cast<double>(ranks.world);
  const bool sharded = ranks.world > 1 && (ranks.shard_optimizer || ranks.shard_gradients);
  m.update_bytes = 4 * std::min(largest, sharded ? std::ceil(P / W) : P);
  if (ranks.world > 1) {
    // A bucket holds at least one whole tensor; kShardBucketsInFlight (2)
    // send buffers and the bucket being filled exist at once.
    const double bucket = std::min(std::max(ranks.bucket_bytes, 4 * largest_tensor), 4 * P);
    if (!sharded) {
      m.grads_bytes += 4 * P;  // the all-reduce buffers
    } else {
      m.optimizer_bytes = 8 * P / W;
      m.grads_bytes = ranks.shard_gradients ? 4 * P / W + 3 * bucket  // chunks, buckets
                                            : 4 * P + 4 * P / W + 2 * bucket;
    }
  }
  return m;
}

int64_t largest_fitting_micro_batch(const TransformerOptions& o, int64_t batch, double budget_bytes,
                                    const RankLayout& ranks) {
  for (int64_t m = batch; m >= 1; --m) {
    if (batch % m == 0 && estimate_memory(o, m, ranks).total() <= budget_bytes) return m;
  }
  return 0;
}

int64_t head_chunk_rows(int64_t vocab) {
  return std::max<int64_t>(1, (int64_t{1} << 24) / std::max<int64_t>(1, vocab));
}

const char* attention_kernel_name(AttentionKernel kernel) {
  switch (kernel) {
    case AttentionKernel::kSdpa:
      return "sdpa";
    case AttentionKernel::kExplicit:
      return "explicit";
    case AttentionKernel::kBlockwise:
      return "blockwise";
  }
  return "?";
}

std::string human_count(double n) {
  char buf[32];
  if (n >= 1e9) {
    std::snprintf(buf, sizeof buf, "%.2fB", n / 1e9);
  } else if (n >= 1e6) {
    std::snprintf(buf, sizeof buf, "%.1fM", n / 1e6);
  } else if (n >= 1e3) {
    std::snprintf(buf, sizeof buf, "%.1fk", n / 1e3);
  } else {
    std::snprintf(buf, sizeof buf, "%.0f", n);
  }
  return buf;
}

std::string human_bytes(double n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (n >= 1024 && u < 4) {
    n /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", n, units[u]);
  return buf;
}

std::string MemoryEstimate::describe() const {
  return "params " + human_bytes(params_bytes) + ", grads " + human_bytes(grads_bytes) +
         ", optimizer " + human_bytes(optimizer_bytes) + ", activations " +
         human_bytes(activation_bytes) +
         (update_bytes > activation_bytes
              ? ", optimizer-step temporaries " + human_bytes(update_bytes)
              : std::string()) +
         " (total ~" + human_bytes(total()) + ")";
}

}  // namespace scalebed
