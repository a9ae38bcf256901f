// AdamW and LaProp against updates computed by hand on small tensors,
// CompleteP's groups against model.md's table, gradient clipping against the
// norm it must produce, and the LR schedules against their formulas.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <vector>

#include "optim/optim.h"
#include "test_util.h"
#include "train/train.h"

namespace scalebed {
namespace {

// The standard parameterization: the optimizer sees the configured LR, WD and ε.
const ParameterizationConfig kStandard{"standard", 0.02, 0.4, 1, 4, 512, 0.02};

TEST(AdamW, MatchesHandComputedUpdates) {
  ModelConfig mc{};
  const double lr = 0.1, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.5;
  OptimConfig oc{"adamw", lr, b1, b2, eps, wd, 0.0};
  Parameterization p(kStandard, mc, oc);
  auto w = torch::tensor({1.0, -2.0}, torch::kFloat64).requires_grad_();  // hidden: decayed
  auto b = torch::tensor({0.5}, torch::kFloat64).requires_grad_();        // vector: not decayed
  Optimizer opt({{"blocks.0.mlp.up.weight", w}, {"blocks.0.mlp.up.bias", b}}, p, oc);

  double wv[2] = {1.0, -2.0}, bv = 0.5, m[3] = {0, 0, 0}, v[3] = {0, 0, 0};
  const double grads[3][3] = {{0.3, -0.1, 2.0}, {-0.2, 0.4, 1.0}, {0.05, 0.05, -3.0}};
  for (int k = 1; k <= 3; ++k) {
    opt.zero_grad();
    w.mutable_grad() = torch::tensor({grads[k - 1][0], grads[k - 1][1]}, torch::kFloat64);
    b.mutable_grad() = torch::tensor({grads[k - 1][2]}, torch::kFloat64);
    opt.step(lr);
    double* vals[3] = {&wv[0], &wv[1], &bv};
    for (int i = 0; i < 3; ++i) {
      const double g = grads[k - 1][i];
      if (i < 2) *vals[i] *= 1 - lr * wd;
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      const double mhat = m[i] / (1 - std::pow(b1, k)), vhat = v[i] / (1 - std::pow(b2, k));
      *vals[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
    EXPECT_NEAR(w[0].item<double>(), wv[0], 1e-12);
    EXPECT_NEAR(w[1].item<double>(), wv[1], 1e-12);
    EXPECT_NEAR(b[0].item<double>(), bv, 1e-12);
  }
  EXPECT_EQ(opt.steps_done(), 3);
}

TEST(Gradients, NormClippingAndNonFiniteDetection) {
  ModelConfig mc{};
  OptimConfig oc{"adamw", 0.1, 0.9, 0.99, 1e-8, 0.0, 1.0};
  Parameterization p(kStandard, mc, oc);
  auto a = torch::zeros({2}).requires_grad_(), c = torch::zeros({1}).requires_grad_();
  Optimizer opt({{"x.weight", a}, {"y.bias", c}}, p, oc);
  a.mutable_grad() = torch::tensor({3.0f, 0.0f});
  c.mutable_grad() = torch::tensor({4.0f});
  auto norm = global_grad_norm(opt.params());
  EXPECT_NEAR(norm.item<double>(), 5.0, 1e-6);
  clip_gradients(opt.params(), norm, 1.0);
  EXPECT_NEAR(global_grad_norm(opt.params()).item<double>(), 1.0, 1e-5);
  EXPECT_EQ(first_nonfinite_gradient(opt.params()), "");
  c.mutable_grad() = torch::tensor({std::nanf("")});
  EXPECT_EQ(first_nonfinite_gradient(opt.params()), "y.bias");
}

TEST(Schedule, WarmupConstantCosineAndWsd) {
  ScheduleConfig s{"constant", 10, 0.2, 0.1};
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 0, 100), 0.1);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 9, 100), 1.0);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 99, 100), 1.0);
  s.kind = "cosine";
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 10, 100), 1.0);
  EXPECT_NEAR(lr_multiplier(s, 55, 100), 0.1 + 0.9 * 0.5, 1e-12);  // halfway: midpoint
  EXPECT_NEAR(lr_multiplier(s, 100, 100), 0.1, 1e-12);
  s.kind = "wsd";  // cooldown over the last 20 of 100 steps: 1 - sqrt(progress)
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 79, 100), 1.0);
  EXPECT_DOUBLE_EQ(lr_multiplier(s, 80, 100), 1.0);
  EXPECT_NEAR(lr_multiplier(s, 85, 100), 1.0 - std::sqrt(0.25), 1e-12);
  EXPECT_NEAR(lr_multiplier(s, 99, 100), 1.0 - std::sqrt(0.95), 1e-12);
}

TEST(LaProp, MatchesHandComputedUpdates) {
  // model.md: ν ← β2'ν + (1−β2')g²; m ← β1'm + (1−β1')g/(√ν + ε); θ ← θ − lr(m + wd·θ),
  // β' = 1 − (1−β)/(1−β^k).
  ModelConfig mc{};
  const double lr = 0.05, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.3;
  OptimConfig oc{"laprop", lr, b1, b2, eps, wd, 0.0};
  Parameterization p(kStandard, mc, oc);
  auto w = torch::tensor({0.7, -1.5}, torch::kFloat64).requires_grad_();
  Optimizer opt({{"blocks.0.attn.q.weight", w}}, p, oc);
  double theta[2] = {0.7, -1.5}, m[2] = {0, 0}, nu[2] = {0, 0};
  const double grads[4][2] = {{0.3, -0.2}, {-0.1, 0.4}, {0.25, 0.0}, {-2.0, 1.0}};
  for (int k = 1; k <= 4; ++k) {
    opt.zero_grad();
    w.mutable_grad() = torch::tensor({grads[k - 1][0], grads[k - 1][1]}, torch::kFloat64);
    opt.step(lr);
    const double b1k = 1 - (1 - b1) / (1 - std::pow(b1, k)),
                 b2k = 1 - (1 - b2) / (1 - std::pow(b2, k));
    for (int i = 0; i < 2; ++i) {
      const double g = grads[k - 1][i];
      nu[i] = b2k * nu[i] + (1 - b2k) * g * g;
      m[i] = b1k * m[i] + (1 - b1k) * g / (std::sqrt(nu[i]) + eps);
      theta[i] -= lr * (m[i] + wd * theta[i]);
      EXPECT_NEAR(w[i].item<double>(), theta[i], 1e-12) << "step " << k;
    }
  }
}

// The multi-tensor step against a loop over tensors with the same operations
// (the update before it used `_foreach_*`): bit-identical in fp32 over several
// steps, with CompleteP's groups giving each group its own LR, weight decay
// and ε, and a parameter without a gradient left alone.
TEST(MultiTensorStep, BitIdenticalToAPerTensorLoop) {
  ModelConfig mc{};
  mc.layers = 2;
  mc.d_model = 16;
  const ParameterizationConfig completep{"completep", 0.02, 0.4, 1, 4, 512, 0.02};
  for (const std::string name : {"adamw", "laprop"}) {
    OptimConfig oc{name, 0.05, 0.9, 0.99, 1e-8, 0.1, 1.0};
    Parameterization p(completep, mc, oc);
    const std::vector<std::string> names = {"embed.weight",         "blocks.0.attn.q.weight",
                                            "blocks.0.mlp.up.bias", "blocks.1.attn.q.weight",
                                            "head.weight",          "blocks.1.mlp.up.bias"};
    torch::manual_seed(4);
    std::vector<std::pair<std::string, torch::Tensor>> named, reference;
    for (const auto& n : names) {
      auto t = torch::randn({5, 3});
      named.emplace_back(n, t.clone().requires_grad_());
      reference.emplace_back(n, t.clone());
    }
    Optimizer opt(named, p, oc);
    std::vector<torch::Tensor> m, v;
    for (auto& [n, t] : reference) {
      m.push_back(torch::zeros_like(t));
      v.push_back(torch::zeros_like(t));
    }
    for (int k = 1; k <= 5; ++k) {
      const double b1 = 1 - (1 - 0.9) / (1 - std::pow(0.9, k)),
                   b2 = 1 - (1 - 0.99) / (1 - std::pow(0.99, k));
      const double bias1 = 1 - std::pow(0.9, k), bias2 = 1 - std::pow(0.99, k);
      opt.zero_grad();
      for (size_t i = 0; i + 1 < names.size(); ++i) {  // the last one gets no gradient
        auto g = torch::randn({5, 3});
        named[i].second.mutable_grad() = g.clone();
        const GroupRule rule = p.rule(group_of(names[i]));
        const double lr = 0.05 * rule.lr_multiplier;
        auto& theta = reference[i].second;
        if (name == "laprop") {
          v[i].mul_(b2).addcmul_(g, g, 1 - b2);
          m[i].mul_(b1).add_(g / (v[i].sqrt() + rule.eps), 1 - b1);
          if (rule.weight_decay != 0) theta.mul_(1 - lr * rule.weight_decay);
          theta.add_(m[i], -lr);
        } else {
          if (rule.weight_decay != 0) theta.mul_(1 - lr * rule.weight_decay);
          m[i].mul_(0.9).add_(g, 1 - 0.9);
          v[i].mul_(0.99).addcmul_(g, g, 1 - 0.99);
          theta.addcdiv_(m[i], (v[i] / bias2).sqrt_().add_(rule.eps), -lr / bias1);
        }
      }
      opt.step(0.05);
      for (size_t i = 0; i < names.size(); ++i) {
        EXPECT_TRUE(torch::equal(named[i].second.detach(), reference[i].second))
            << name << " " << names[i] << " step " << k;
      }
    }
  }
}

TEST(CompleteP, GroupsGetTheTableOfModelMd) {
  // d = 256, L = 8, base LR η = 0.5, wd 0.1, optim.eps 2.5e-9 -> ε = 1e-8/(d·L).
  ModelConfig mc{};
  mc.d_model = 256;
  mc.layers = 8;
  ParameterizationConfig pc{"completep", 0.02, 0.4, 1, 4, 512, 0.02};
  OptimConfig oc{"laprop", 0.5, 0.9, 0.99, 2.5e-9, 0.1, 1.0};
  Parameterization p(pc, mc, oc);
  const double d = 256, L = 8;
  EXPECT_DOUBLE_EQ(p.residual_scale(), 4 / L);
  EXPECT_DOUBLE_EQ(p.head_scale(), 512 / d);
  const GroupRule hidden = p.rule(ParamGroup::kHidden);
  EXPECT_DOUBLE_EQ(hidden.init_std, 0.4 / std::sqrt(d));
  EXPECT_DOUBLE_EQ(hidden.lr_multiplier, 1 / d);  // η/d
  EXPECT_DOUBLE_EQ(hidden.weight_decay, 0.1 * d);
  EXPECT_NEAR(hidden.eps, 1e-8 / (d * L), 1e-20);
  for (ParamGroup g : {ParamGroup::kEmbedding, ParamGroup::kHead, ParamGroup::kVector}) {
    const GroupRule r = p.rule(g);
    EXPECT_DOUBLE_EQ(r.lr_multiplier, 0.02);  // 0.02·η
    EXPECT_DOUBLE_EQ(r.weight_decay, 0.0);
    EXPECT_DOUBLE_EQ(r.eps, hidden.eps);
  }
  EXPECT_DOUBLE_EQ(p.rule(ParamGroup::kEmbedding).init_std, 0.02);
  EXPECT_DOUBLE_EQ(p.rule(ParamGroup::kHead).init_std, 0.0);  // zero-init head
  EXPECT_DOUBLE_EQ(p.rule(ParamGroup::kVector).init_std, 0.0);
  // The general form: base width 64 and depth 2 move LR, WD, ε and the residual scale.
  ParameterizationConfig general = pc;
  general.base_width = 64;
  general.base_depth = 2;
  Parameterization q(general, mc, oc);
  EXPECT_DOUBLE_EQ(q.rule(ParamGroup::kHidden).lr_multiplier, 64 / d);
  EXPECT_DOUBLE_EQ(q.rule(ParamGroup::kHidden).weight_decay, 0.1 * d / 64);
  EXPECT_DOUBLE_EQ(q.residual_scale(), 2 / L);
  EXPECT_NEAR(q.rule(ParamGroup::kHidden).eps, 2.5e-9 * (64 / d) * (2 / L), 1e-22);
}

TEST(BetaTwo, AutoFollowsThePapersBatchRule) {
  EXPECT_DOUBLE_EQ(auto_beta2(8), 0.99);
  EXPECT_DOUBLE_EQ(auto_beta2(128), 0.99);
  EXPECT_DOUBLE_EQ(auto_beta2(256), 0.98);
  EXPECT_DOUBLE_EQ(auto_beta2(1024), 0.98);
}

TEST(LossReduction, SumScalesTheGradientByTheScoredTokensAndOnlyEpsilonSeesIt) {
  // objective.loss_reduction sum (the released diffusion code's default):
  // the step's gradient is the mean's times batch x scored positions (8 x 24
  // for masked diffusion at context 24), the logged loss is the mean either
  // way, and under LaProp with a negligible epsilon and no clipping the update is the
  // same (the optimizer divides the scale out); with a large epsilon it is
  // not, which is why the paper preset sets it.
  testing::TempDir dir;
  testing::write_text(dir / "run.yaml",
                      "name: r\nout_dir: " + std::string(dir / "runs") +
                          "\nmodel: {layers: 1, d_model: 32, heads: 2, context: 24}\n"
                          "objective: {kind: diffusion, noise: masked}\n"
                          "optim: {name: laprop, grad_clip: 0}\n"
                          "train: {batch_size: 8, steps: 1}\n");
  auto step_of = [&](const std::string& reduction, const std::string& eps) {
    auto t = build_training(load_run_config(
        dir / "run.yaml", {"objective.loss_reduction=" + reduction, "optim.eps=" + eps}));
    BatchSource batches(t->data, t->cfg.model.context, static_cast<uint64_t>(t->cfg.seed));
    const StepResult r = training_step(*t, batches, 0, 1e-2);
    std::vector<torch::Tensor> weights;
    for (const auto& p : t->model->parameters()) weights.push_back(p.detach().clone());
    return std::make_pair(r, weights);
  };
  const auto [mean, mean_w] = step_of("mean", "1e-30");
  const auto [sum, sum_w] = step_of("sum", "1e-30");
  EXPECT_DOUBLE_EQ(sum.loss, mean.loss);
  EXPECT_NEAR(sum.grad_norm / mean.grad_norm, 8.0 * 24.0, 1e-6 * 8 * 24);
  for (size_t i = 0; i < mean_w.size(); ++i) {
    EXPECT_TRUE(torch::allclose(sum_w[i], mean_w[i], 1e-5, 1e-7)) << i;
  }
  const auto [mean_eps, mean_eps_w] = step_of("mean", "1e-3");
  const auto [sum_eps, sum_eps_w] = step_of("sum", "1e-3");
  double largest = 0;
  for (size_t i = 0; i < mean_eps_w.size(); ++i) {
    largest = std::max(largest, (sum_eps_w[i] - mean_eps_w[i]).abs().max().item<double>());
  }
  EXPECT_GT(largest, 1e-4);
}

}  // namespace
}  // namespace scalebed
