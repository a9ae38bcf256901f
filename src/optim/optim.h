// Public header of optim/: the optimizer over parameterization groups and the
// learning-rate schedule.
//
// Two update rules over the same state (first and second moments), each with
// the per-group LR multiplier, weight decay and epsilon of the Parameterization:
//   adamw   m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;
//           θ ← θ·(1 − lr·wd) − lr·(m/(1−β1^k)) / (√(v/(1−β2^k)) + ε)
//   laprop  (model.md) with β' = 1 − (1−β)/(1−β^k) at step k:
//           ν ← β2'·ν + (1−β2')·g²;  m ← β1'·m + (1−β1')·g/(√ν + ε);  θ ← θ − lr·(m + wd·θ)
// The state is plain tensors so that checkpoints restore it bit for bit.
// Each update runs once per batch of a parameter group's tensors and per
// operation (LibTorch's multi-tensor `_foreach_*` ops: fused kernels on CUDA,
// one dispatch per batch instead of per tensor), with the same arithmetic as
// a loop over tensors.
#pragma once

#include <torch/torch.h>

#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "model/parameterization.h"

namespace scalebed {

// What one optimizer entry updates: a whole parameter, or under sharding
// (distributed/data_parallel.h) the elements [offset, offset + numel) of its
// flattened values, as a 1-D view, with the reduced gradient of just those.
struct ParamShard {
  std::string name;
  torch::Tensor values;  // the parameter, or a 1-D view into it
  torch::Tensor grad;    // undefined: the parameter's own .grad()
  int64_t offset = 0;    // first flattened element of the parameter it holds
};

struct OptimParam {
  std::string name;
  torch::Tensor param;  // what the update writes (ParamShard::values)
  torch::Tensor shard_grad;
  int64_t offset = 0;
  ParamGroup group;
  GroupRule rule;
  torch::Tensor exp_avg, exp_avg_sq;  // shaped like `param`
  // The gradient the update reads: the shard's reduced one, or param's .grad().
  const torch::Tensor& grad() const { return shard_grad.defined() ? shard_grad : param.grad(); }
};

// Elements per multi-tensor update batch (2^24: 64 MiB per fp32 temporary).
constexpr int64_t kUpdateBatchElements = int64_t{1} << 24;

class Optimizer {
 public:
  Optimizer(const std::vector<std::pair<std::string, torch::Tensor>>& named_params,
            const Parameterization& p, const OptimConfig& cfg);
  // Over shards of the parameters (a rank's share under sharding).
  static std::unique_ptr<Optimizer> over_shards(const std::vector<ParamShard>& shards,
                                                const Parameterization& p, const OptimConfig& cfg);

  // One update at base learning rate `lr` (each group scales it).
  void step(double lr);
  void zero_grad();

  int64_t steps_done() const { return steps_done_; }
  std::vector<OptimParam>& params() { return params_; }
  const std::vector<OptimParam>& params() const { return params_; }

  // Tensors to checkpoint, by stable name; and restoring from them.
  std::vector<std::pair<std::string, torch::Tensor>> state() const;
  void load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state,
                  int64_t steps_done);

 private:
  struct FromShards {};
  Optimizer(FromShards, const std::vector<ParamShard>& shards, const Parameterization& p,
            const OptimConfig& cfg);
  std::vector<OptimParam> params_;
  // params_ indices of one parameter group each, at most
  // kUpdateBatchElements together (one larger tensor alone): one multi-tensor
  // update per batch.
  std::vector<std::vector<size_t>> batches_;
  bool laprop_;
  double beta1_, beta2_;
  int64_t steps_done_ = 0;
};

// Global L2 norm of all gradients in fp32 (a 0-dim tensor on the parameters'
// device): the norm of the per-tensor norms.
torch::Tensor global_grad_norm(const std::vector<OptimParam>& params);
// Scales gradients so that their global norm is at most max_norm.
void clip_gradients(std::vector<OptimParam>& params, const torch::Tensor& norm, double max_norm);
// Name of the first parameter whose gradient holds a NaN or Inf ("" if none).
std::string first_nonfinite_gradient(const std::vector<OptimParam>& params);

// LR multiplier at optimizer step `step` (0-based) of `total_steps`:
// linear warmup over warmup_steps, then constant, cosine down to
// min_lr_ratio, or warmup-stable-decay with a 1 − √ cooldown over the last
// cooldown_fraction of the steps.
double lr_multiplier(const ScheduleConfig& s, int64_t step, int64_t total_steps);

}  // namespace scalebed
