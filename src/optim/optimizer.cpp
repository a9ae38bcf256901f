// AdamW and LaProp over parameterization groups, gradient norms and clipping.
#include <cmath>
#include <map>

#include "optim/optim.h"
#include "util/error.h"

namespace scalebed {

namespace {
std::vector<ParamShard> whole(const std::vector<std::pair<std::string, torch::Tensor>>& named) {
  std::vector<ParamShard> shards;
  for (const auto& [name, param] : named) shards.push_back({name, param, torch::Tensor(), 0});
  return shards;
}
}  // namespace

Optimizer::Optimizer(const std::vector<std::pair<std::string, torch::Tensor>>& named_params,
                     const Parameterization& p, const OptimConfig& cfg)
    : Optimizer(FromShards{}, whole(named_params), p, cfg) {}

std::unique_ptr<Optimizer> Optimizer::over_shards(const std::vector<ParamShard>& shards,
                                                  const Parameterization& p,
                                                  const OptimConfig& cfg) {
  return std::unique_ptr<Optimizer>(new Optimizer(FromShards{}, shards, p, cfg));
}

Optimizer::Optimizer(FromShards, const std::vector<ParamShard>& shards, const Parameterization& p,
                     const OptimConfig& cfg)
    : laprop_(cfg.name == "laprop"), beta1_(cfg.beta1), beta2_(cfg.beta2) {
  SB_CHECK(cfg.name == "adamw" || cfg.name == "laprop", "unknown optimizer ", cfg.name);
  // Batches of one group's tensors, at most kUpdateBatchElements together (a
  // larger tensor alone), so that the update's temporaries (√v + ε and
  // g/(√v + ε), one per tensor of a batch) stay bounded as with a loop over
  // tensors, instead of growing to the size of the whole model.
  std::map<ParamGroup, size_t> open_batch;  // group -> its batch being filled
  std::vector<int64_t> batch_elements;
  for (const auto& shard : shards) {
    const torch::Tensor& param = shard.values;
    OptimParam op;
    op.name = shard.name;
    op.param = param;
    op.shard_grad = shard.grad;
    op.offset = shard.offset;
    op.group = group_of(op.name);
    op.rule = p.rule(op.group);
    op.exp_avg = torch::zeros_like(param);
    op.exp_avg_sq = torch::zeros_like(param);
    auto it = open_batch.find(op.group);
    if (it == open_batch.end() ||
        batch_elements[it->second] + param.numel() > kUpdateBatchElements) {
      it = open_batch.insert_or_assign(op.group, batches_.size()).first;
      batches_.emplace_back();
      batch_elements.push_back(0);
    }
    batches_[it->second].push_back(params_.size());
    batch_elements[it->second] += param.numel();
    params_.push_back(std::move(op));
  }
}

namespace {

// The tensors of one group whose parameters have a gradient this step.
struct GroupTensors {
  std::vector<torch::Tensor> params, grads, exp_avg, exp_avg_sq;
};

GroupTensors with_gradients(const std::vector<OptimParam>& params,
                            const std::vector<size_t>& members) {
  GroupTensors g;
  for (size_t i : members) {
    const auto& p = params[i];
    if (!p.grad().defined()) continue;
    g.params.push_back(p.param);
    g.grads.push_back(p.grad());
    g.exp_avg.push_back(p.exp_avg);
    g.exp_avg_sq.push_back(p.exp_avg_sq);
  }
  return g;
}

std::vector<torch::Tensor> defined_gradients(const std::vector<OptimParam>& params) {
  std::vector<torch::Tensor> grads;
  for (const auto& p : params) {
    if (p.grad().defined()) grads.push_back(p.grad());
  }
  return grads;
}

}  // namespace

void Optimizer::zero_grad() {
  auto grads = defined_gradients(params_);
  if (!grads.empty()) at::_foreach_zero_(grads);
}

void Optimizer::step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_done_;
  const double k = static_cast<double>(steps_done_);
  const double bias1 = 1.0 - std::pow(beta1_, k), bias2 = 1.0 - std::pow(beta2_, k);
  for (const auto& members : batches_) {
    GroupTensors g = with_gradients(params_, members);
    if (g.params.empty()) continue;
    const GroupRule& rule = params_[members.front()].rule;
    const double group_lr = lr * rule.lr_multiplier;
    if (laprop_) {
      // Bias correction folded into the coefficients: β' = 1 − (1 − β)/(1 − β^k).
      //   ν ← β2'·ν + (1−β2')·g²;  m ← β1'·m + (1−β1')·g/(√ν + ε);  θ ← θ − lr·(m + wd·θ)
      const double b1 = 1.0 - (1.0 - beta1_) / bias1, b2 = 1.0 - (1.0 - beta2_) / bias2;
      at::_foreach_mul_(g.exp_avg_sq, b2);
      at::_foreach_addcmul_(g.exp_avg_sq, g.grads, g.grads, 1.0 - b2);
      // One temporary per tensor: √ν + ε, then g/(√ν + ε) written over it.
      auto scratch = at::_foreach_sqrt(g.exp_avg_sq);
      at::_foreach_add_(scratch, rule.eps);
      at::_foreach_div_out(scratch, g.grads, scratch);
      at::_foreach_mul_(g.exp_avg, b1);
      at::_foreach_add_(g.exp_avg, scratch, 1.0 - b1);
      if (rule.weight_decay != 0.0) at::_foreach_mul_(g.params, 1.0 - group_lr * rule.weight_decay);
      at::_foreach_add_(g.params, g.exp_avg, -group_lr);
      continue;
    }
    if (rule.weight_decay != 0.0) at::_foreach_mul_(g.params, 1.0 - group_lr * rule.weight_decay);
    at::_foreach_mul_(g.exp_avg, beta1_);
    at::_foreach_add_(g.exp_avg, g.grads, 1.0 - beta1_);
    at::_foreach_mul_(g.exp_avg_sq, beta2_);
    at::_foreach_addcmul_(g.exp_avg_sq, g.grads, g.grads, 1.0 - beta2_);
    // θ -= lr · (m / bias1) / (√(v / bias2) + ε)
    auto denom = at::_foreach_div(g.exp_avg_sq, bias2);
    at::_foreach_sqrt_(denom);
    at::_foreach_add_(denom, rule.eps);
    at::_foreach_addcdiv_(g.params, g.exp_avg, denom, -group_lr / bias1);
  }
}

std::vector<std::pair<std::string, torch::Tensor>> Optimizer::state() const {
  std::vector<std::pair<std::string, torch::Tensor>> out;
  for (const auto& p : params_) {
    out.emplace_back(p.name + ".exp_avg", p.exp_avg);
    out.emplace_back(p.name + ".exp_avg_sq", p.exp_avg_sq);
  }
  return out;
}

void Optimizer::load_state(const std::vector<std::pair<std::string, torch::Tensor>>& state,
                           int64_t steps_done) {
  std::map<std::string, torch::Tensor> by_name(state.begin(), state.end());
  torch::NoGradGuard no_grad;
  for (auto& p : params_) {
    for (auto [suffix, target] : {std::pair<std::string, torch::Tensor*>{".exp_avg", &p.exp_avg},
                                  {".exp_avg_sq", &p.exp_avg_sq}}) {
      auto it = by_name.find(p.name + suffix);
      if (it == by_name.end()) throw Error("optimizer state lacks " + p.name + suffix);
      if (!it->second.sizes().equals(target->sizes())) {
        throw Error("optimizer state " + p.name + suffix + " has the wrong shape");
      }
      target->copy_(it->second);
    }
  }
  steps_done_ = steps_done;
}

torch::Tensor global_grad_norm(const std::vector<OptimParam>& params) {
  auto grads = defined_gradients(params);
  if (grads.empty()) return torch::zeros({});
  // Per-tensor norms in fp32 (whatever the gradients' dtype), then their norm.
  auto norms = at::_foreach_norm(grads, 2, torch::kFloat32);
  return torch::linalg_vector_norm(torch::stack(norms), 2, {}, false, torch::kFloat32);
}

void clip_gradients(std::vector<OptimParam>& params, const torch::Tensor& norm, double max_norm) {
  if (max_norm <= 0) return;
  torch::NoGradGuard no_grad;
  // min(1, max_norm / (norm + 1e-6)) without a host sync.
  auto coef = torch::clamp_max(max_norm / (norm + 1e-6), 1.0);
  auto grads = defined_gradients(params);
  if (!grads.empty()) at::_foreach_mul_(grads, coef.to(grads.front().scalar_type()));
}

std::string first_nonfinite_gradient(const std::vector<OptimParam>& params) {
  for (const auto& p : params) {
    const auto& g = p.grad();
    if (g.defined() && !torch::isfinite(g).all().item<bool>()) return p.name;
  }
  return "";
}

double lr_multiplier(const ScheduleConfig& s, int64_t step, int64_t total_steps) {
  if (s.warmup_steps > 0 && step < s.warmup_steps) {
    return static_cast<double>(step + 1) / static_cast<double>(s.warmup_steps);
  }
  if (s.kind == "constant") return 1.0;
  if (s.kind == "cosine") {
    const double span = std::max<int64_t>(1, total_steps - s.warmup_steps);
    const double progress = std::min(1.0, (step - s.warmup_steps) / span);
    return s.min_lr_ratio + (1.0 - s.min_lr_ratio) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  // wsd: constant, then 1 − √(progress) over the last cooldown_fraction.
  const auto cooldown = static_cast<int64_t>(std::llround(s.cooldown_fraction * total_steps));
  const int64_t start = total_steps - cooldown;
  if (cooldown <= 0 || step < start) return 1.0;
  const double progress = static_cast<double>(step - start) / static_cast<double>(cooldown);
  return std::max(0.0, 1.0 - std::sqrt(progress));
}

}  // namespace scalebed
