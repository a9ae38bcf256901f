// AdamW and LaProp over parameterization groups, gradient norms and clipping.
#include <cmath>
#include <map>

#include "optim/optim.h"
#include "util/error.h"

namespace scalebed {

Optimizer::Optimizer(const std::vector<std::pair<std::string, torch::Tensor>>& named_params,
                     const Parameterization& p, const OptimConfig& cfg)
    : laprop_(cfg.name == "laprop"), beta1_(cfg.beta1), beta2_(cfg.beta2) {
  SB_CHECK(cfg.name == "adamw" || cfg.name == "laprop", "unknown optimizer ", cfg.name);
  for (const auto& [name, param] : named_params) {
    OptimParam op;
    op.name = name;
    op.param = param;
    op.group = group_of(name);
    op.rule = p.rule(op.group);
    op.exp_avg = torch::zeros_like(param);
    op.exp_avg_sq = torch::zeros_like(param);
    params_.push_back(std::move(op));
  }
}

void Optimizer::zero_grad() {
  for (auto& p : params_) {
    if (p.param.grad().defined()) p.param.mutable_grad().zero_();
  }
}

void Optimizer::step(double lr) {
  torch::NoGradGuard no_grad;
  ++steps_done_;
  const double k = static_cast<double>(steps_done_);
  const double bias1 = 1.0 - std::pow(beta1_, k), bias2 = 1.0 - std::pow(beta2_, k);
  for (auto& p : params_) {
    const auto& grad = p.param.grad();
    if (!grad.defined()) continue;
    const double group_lr = lr * p.rule.lr_multiplier;
    if (laprop_) {
      // Bias correction folded into the coefficients: β' = 1 − (1 − β)/(1 − β^k).
      const double b1 = 1.0 - (1.0 - beta1_) / bias1, b2 = 1.0 - (1.0 - beta2_) / bias2;
      p.exp_avg_sq.mul_(b2).addcmul_(grad, grad, 1.0 - b2);
      p.exp_avg.mul_(b1).add_(grad / (p.exp_avg_sq.sqrt() + p.rule.eps), 1.0 - b1);
      if (p.rule.weight_decay != 0.0) p.param.mul_(1.0 - group_lr * p.rule.weight_decay);
      p.param.add_(p.exp_avg, -group_lr);
      continue;
    }
    if (p.rule.weight_decay != 0.0) p.param.mul_(1.0 - group_lr * p.rule.weight_decay);
    p.exp_avg.mul_(beta1_).add_(grad, 1.0 - beta1_);
    p.exp_avg_sq.mul_(beta2_).addcmul_(grad, grad, 1.0 - beta2_);
    // θ -= lr · (m / bias1) / (√(v / bias2) + ε)
    auto denom = (p.exp_avg_sq / bias2).sqrt_().add_(p.rule.eps);
    p.param.addcdiv_(p.exp_avg, denom, -group_lr / bias1);
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
  std::vector<torch::Tensor> squares;
  for (const auto& p : params) {
    if (p.param.grad().defined())
      squares.push_back(p.param.grad().to(torch::kFloat32).square().sum());
  }
  if (squares.empty()) return torch::zeros({});
  return torch::stack(squares).sum().sqrt();
}

void clip_gradients(std::vector<OptimParam>& params, const torch::Tensor& norm, double max_norm) {
  if (max_norm <= 0) return;
  torch::NoGradGuard no_grad;
  // min(1, max_norm / (norm + 1e-6)) without a host sync.
  auto coef = torch::clamp_max(max_norm / (norm + 1e-6), 1.0);
  for (auto& p : params) {
    if (p.param.grad().defined()) p.param.mutable_grad().mul_(coef);
  }
}

std::string first_nonfinite_gradient(const std::vector<OptimParam>& params) {
  for (const auto& p : params) {
    const auto& g = p.param.grad();
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
