// AdamW against an update computed by hand on small tensors, gradient
// clipping against the norm it must produce, and the LR schedules against
// their formulas.
#include <gtest/gtest.h>

#include <cmath>

#include "optim/optim.h"

namespace scalebed {
namespace {

TEST(AdamW, MatchesHandComputedUpdates) {
  ModelConfig mc{};
  ParameterizationConfig pc{"standard", 0.02};
  const double lr = 0.1, b1 = 0.9, b2 = 0.99, eps = 1e-8, wd = 0.5;
  OptimConfig oc{"adamw", lr, b1, b2, eps, wd, 0.0};
  Parameterization p(pc, mc, oc);
  auto w = torch::tensor({1.0, -2.0}, torch::kFloat64).requires_grad_();  // hidden: decayed
  auto b = torch::tensor({0.5}, torch::kFloat64).requires_grad_();        // vector: not decayed
  AdamW opt({{"blocks.0.mlp.up.weight", w}, {"blocks.0.mlp.up.bias", b}}, p, oc);

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
  ParameterizationConfig pc{"standard", 0.02};
  OptimConfig oc{"adamw", 0.1, 0.9, 0.99, 1e-8, 0.0, 1.0};
  Parameterization p(pc, mc, oc);
  auto a = torch::zeros({2}).requires_grad_(), c = torch::zeros({1}).requires_grad_();
  AdamW opt({{"x.weight", a}, {"y.bias", c}}, p, oc);
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

}  // namespace
}  // namespace scalebed
