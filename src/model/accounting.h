// Parameter, FLOP and memory accounting in closed form (model.md), so that
// --dry-run, metrics and the sweep scheduler agree on one set of numbers.
// Plain arithmetic: no LibTorch, so the scheduler can use it.
//
// FLOP conventions per training token (forward + backward):
//   6nd   6·N with N = non-embedding parameters (Kaplan/Chinchilla C = 6ND)
//   palm  6·N_matmul + 12·L·d·T, N_matmul = non-embedding + head (the input
//         embedding is a lookup); attention counted in full (also for causal)
//   md    M = 6·(4 + 2r)·L·d² + 12·L·d·T (= 72·L·d² + 12·L·d·T for r = 4),
//         the diffusion paper's non-embedding FLOPs per token
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>

#include "model/options.h"

namespace scalebed {

struct ParamCounts {
  int64_t embedding = 0;      // input embedding + LM head
  int64_t non_embedding = 0;  // blocks + final norm
  int64_t total = 0;
  int64_t per_layer = 0;
  // The label model.md's size table gives this shape: L·(12d² + 14d), 3d per
  // layer more than the backbone it describes (README, "Parameter counts").
  // Printed beside the count so sizes read against the paper's; 0 for shapes
  // other than the paper's backbone (MLP ratio 4, QK-norm, sink).
  int64_t paper_table_non_embedding = 0;
};

ParamCounts count_params(const TransformerOptions& o);

struct FlopsPerToken {
  double c6nd = 0, palm = 0, md = 0;
};
FlopsPerToken flops_per_token(const TransformerOptions& o);

struct MemoryEstimate {
  double params_bytes = 0, grads_bytes = 0, optimizer_bytes = 0, activation_bytes = 0;
  // The optimizer step's temporaries (one fp32 tensor per parameter of an
  // update batch, at least the largest parameter): they exist after
  // backward, when the activations are gone.
  double update_bytes = 0;
  // What a step allocates above weights, gradients and optimizer state.
  double step_bytes() const { return std::max(activation_bytes, update_bytes); }
  double total() const { return params_bytes + grads_bytes + optimizer_bytes + step_bytes(); }
  std::string describe() const;
};
// Training memory at a micro-batch of `micro_batch` sequences in the
// options' precision (activations: what autograd keeps per layer, the
// attention matrix when the explicit kernel materialises it, the blockwise
// kernel's saved output and one key block's working set, and one chunk of the
// head's logits with their gradient). Checked against measured CPU
// allocations in bench/results/memory_estimate_cpu.md.
//
// Per rank under data parallelism (distributed/data_parallel.h), as `ranks`
// lays it out: unsharded, each rank also holds the all-reduce buffers (a
// second copy of the gradients); sharding the optimizer (ZeRO-1) divides the
// moments by the world size, and the rank keeps its gradient chunks beside the
// full gradients of the backward; sharding gradients too (ZeRO-2) keeps only
// the chunks and the buckets in flight.
struct RankLayout {
  int64_t world = 1;  // 1: training alone
  bool shard_optimizer = false, shard_gradients = false;
  double bucket_bytes = 25.0 * 1024 * 1024;
};
MemoryEstimate estimate_memory(const TransformerOptions& o, int64_t micro_batch,
                               const RankLayout& ranks = {});

// The largest divisor of `batch` (a rank's sequences) whose estimate fits in
// `budget_bytes`, or 0 when not even one sequence fits.
int64_t largest_fitting_micro_batch(const TransformerOptions& o, int64_t batch, double budget_bytes,
                                    const RankLayout& ranks = {});

// Tokens per chunk of the chunked LM head + loss (model/chunked_head.h):
// about 2^24 logits (64 MiB in fp32) at a time.
int64_t head_chunk_rows(int64_t vocab);

const char* attention_kernel_name(AttentionKernel kernel);  // "sdpa", "explicit", "blockwise"

std::string human_count(double n);  // 25.2M, 1.3B
std::string human_bytes(double n);  // 1.2 GiB

}  // namespace scalebed
