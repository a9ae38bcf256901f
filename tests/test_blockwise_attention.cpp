// The blockwise attention kernel against the explicit reference (outputs and
// the gradients of q, k, v and the sink key/value; fp32 and bf16; causal and
// bidirectional; with and without soft-cap and sink; T not a multiple of the
// block, T = 1, one block larger than T) and against central finite
// differences of itself in fp64. A whole model with the blockwise kernel
// against the same model with the explicit one. Prompt conditioning in every
// kernel against attention computed on the prompt alone.
#include <gtest/gtest.h>

#include <cstdio>
#include <vector>

#include "model/blockwise_attention.h"
#include "model/transformer.h"
#include "model_test_util.h"

namespace scalebed {
namespace {

struct Inputs {
  torch::Tensor q, k, v, sink_key, sink_value;
  std::vector<torch::Tensor> leaves() const {
    std::vector<torch::Tensor> out{q, k, v};
    if (sink_key.defined()) {
      out.push_back(sink_key);
      out.push_back(sink_value);
    }
    return out;
  }
};

// Scores of a few units (randn·2 after the 1/√Dh scale) so that a cap of 3
// bends them and the sink matters.
Inputs random_inputs(int64_t B, int64_t H, int64_t T, int64_t Dh, bool sink, torch::Dtype dtype,
                     uint64_t seed) {
  torch::manual_seed(seed);
  auto make = [&](std::vector<int64_t> shape) {
    return (torch::randn(shape, torch::kFloat64) * 2.0).to(dtype).requires_grad_(true);
  };
  Inputs in;
  in.q = make({B, H, T, Dh});
  in.k = make({B, H, T, Dh});
  in.v = make({B, H, T, Dh});
  if (sink) {
    in.sink_key = make({H, Dh});
    in.sink_value = make({H, Dh});
  }
  return in;
}

TransformerOptions attention_options(bool causal, double soft_cap, int64_t block) {
  TransformerOptions o;
  o.causal = causal;
  o.soft_cap = soft_cap;
  o.attention_block = block;
  return o;
}

// Output and the gradients of every leaf under a fixed random upstream gradient.
std::vector<torch::Tensor> output_and_grads(const Inputs& in, const TransformerOptions& o,
                                            AttentionKernel kernel, const torch::Tensor& upstream) {
  for (auto& t : in.leaves()) t.mutable_grad() = torch::Tensor();
  auto out = attend(in.q, in.k, in.v, in.sink_key, in.sink_value, o, kernel);
  out.backward(upstream.to(out.scalar_type()));
  std::vector<torch::Tensor> result{out.detach().to(torch::kFloat64)};
  for (auto& t : in.leaves()) result.push_back(t.grad().to(torch::kFloat64));
  return result;
}

double max_abs(const torch::Tensor& t) {
  return t.abs().max().item<double>();
}

Inputs to_dtype(const Inputs& in, torch::Dtype dtype) {
  auto cast = [&](const torch::Tensor& t) {
    return t.defined() ? t.detach().to(dtype).requires_grad_(true) : t;
  };
  return {cast(in.q), cast(in.k), cast(in.v), cast(in.sink_key), cast(in.sink_value)};
}

// Both kernels in `dtype` against the truth: the blockwise kernel in fp64 on
// the same (rounded) inputs, which the finite-difference test below checks.
// The blockwise kernel must be no further from the truth than the explicit
// reference is (twice its error, plus `slack` of the value's scale for
// entries that the reference happens to get almost exact).
void expect_no_worse_than_explicit(torch::Dtype dtype, double slack) {
  const char* names[] = {"output", "dq", "dk", "dv", "d sink_key", "d sink_value"};
  double worst_ratio = 0;
  for (bool causal : {true, false}) {
    for (bool sink : {false, true}) {
      for (double cap : {0.0, 3.0}) {
        for (auto [T, block] : {std::pair<int64_t, int64_t>{37, 8}, {32, 8}, {1, 4}, {20, 64}}) {
          auto in = random_inputs(2, 3, T, 8, sink, dtype, 7 + T);
          auto upstream = torch::randn({2, 3, T, 8}).to(dtype);
          auto o = attention_options(causal, cap, block);
          auto truth = output_and_grads(to_dtype(in, torch::kFloat64), o,
                                        AttentionKernel::kBlockwise, upstream);
          auto blockwise = output_and_grads(in, o, AttentionKernel::kBlockwise, upstream);
          auto explicit_ = output_and_grads(in, o, AttentionKernel::kExplicit, upstream);
          ASSERT_EQ(blockwise.size(), explicit_.size());
          for (size_t i = 0; i < blockwise.size(); ++i) {
            const double scale = std::max(1.0, max_abs(truth[i]));
            const double error = max_abs(blockwise[i] - truth[i]) / scale;
            const double reference_error = max_abs(explicit_[i] - truth[i]) / scale;
            EXPECT_LE(error, 2 * reference_error + slack)
                << names[i] << " causal " << causal << " sink " << sink << " cap " << cap << " T "
                << T << " block " << block << " (explicit's error " << reference_error << ")";
            worst_ratio = std::max(worst_ratio, error / (reference_error + slack));
          }
        }
      }
    }
  }
  std::printf("largest error / (explicit's error + slack): %.3f\n", worst_ratio);
}

// fp32: the slack is 1e-5 of the value's scale. The blockwise backward forms
// dS = P ⊙ (dP − D) with D = Σ dO·O (FlashAttention-2's form) where the
// explicit kernel's softmax backward forms D = Σ P·dP; with these inputs D
// reaches about 30, so fp32's relative 1.2e-7 leaves up to ~4e-6 in dP − D
// when the sink takes nearly all the attention (T = 1).
TEST(BlockwiseAttention, MatchesExplicitInFp32) {
  expect_no_worse_than_explicit(torch::kFloat32, 1e-5);
}

// bf16: both kernels round q·kᵀ, the probabilities and P·V to bf16 (8 bits of
// mantissa, a relative step of 2^-8), in different orders (per block or whole
// rows); the slack is one such step.
TEST(BlockwiseAttention, MatchesExplicitInBf16) {
  expect_no_worse_than_explicit(torch::kBFloat16, 1.0 / 256);
}

TEST(BlockwiseAttention, GradientsMatchFiniteDifferencesInFp64) {
  for (bool causal : {true, false}) {
    auto in = random_inputs(1, 2, 11, 4, /*sink=*/true, torch::kFloat64, 11);
    const BlockwiseAttentionOptions o{0.5, 3.0, causal, 4};
    auto weights = torch::randn({1, 2, 11, 4}, torch::kFloat64);
    auto objective = [&] {
      return (blockwise_attention(in.q, in.k, in.v, in.sink_key, in.sink_value, o) * weights).sum();
    };
    objective().backward();
    torch::NoGradGuard no_grad;
    for (auto& leaf : in.leaves()) {
      auto flat = leaf.view({-1});
      auto grad = leaf.grad().view({-1});
      for (int64_t i = 0; i < flat.numel(); i += 3) {
        const double h = 1e-6, saved = flat[i].item<double>();
        flat[i].fill_(saved + h);
        const double up = objective().item<double>();
        flat[i].fill_(saved - h);
        const double down = objective().item<double>();
        flat[i].fill_(saved);
        EXPECT_NEAR(grad[i].item<double>(), (up - down) / (2 * h), 1e-6)
            << "causal " << causal << " coordinate " << i;
      }
    }
  }
}

TEST(BlockwiseAttention, CausalOutputIgnoresLaterKeys) {
  auto in = random_inputs(1, 2, 19, 8, true, torch::kFloat32, 5);
  const BlockwiseAttentionOptions o{0.35, 3.0, true, 4};
  torch::NoGradGuard no_grad;
  auto before = blockwise_attention(in.q, in.k, in.v, in.sink_key, in.sink_value, o);
  auto k = in.k.clone(), v = in.v.clone();
  k.narrow(2, 9, 10).normal_();
  v.narrow(2, 9, 10).normal_();
  auto after = blockwise_attention(in.q, k, v, in.sink_key, in.sink_value, o);
  EXPECT_TRUE(torch::equal(before.narrow(2, 0, 9), after.narrow(2, 0, 9)));
  EXPECT_FALSE(torch::allclose(before.narrow(2, 9, 10), after.narrow(2, 9, 10)));
}

// Prompt conditioning (row b's first P_b tokens attend only to each other
// and the sink): in every kernel, a prompt query's output is what attention
// over the prompt alone gives (the sequence cut to its first P_b tokens), and
// every later query's output is what it is without prompts. Gradients of the
// kernels agree (sdpa has no soft-cap: it runs uncapped).
TEST(BlockwiseAttention, PromptsAttendOnlyToThemselvesInEveryKernel) {
  const int64_t T = 23;
  const auto prompt_lengths = torch::tensor({int64_t{9}, int64_t{0}, int64_t{23}});
  for (double cap : {0.0, 3.0}) {
    auto in = random_inputs(3, 2, T, 8, /*sink=*/true, torch::kFloat64, 3);
    auto o = attention_options(/*causal=*/false, cap, 4);
    std::vector<AttentionKernel> kernels = {AttentionKernel::kExplicit,
                                            AttentionKernel::kBlockwise};
    if (cap == 0) kernels.push_back(AttentionKernel::kSdpa);
    auto upstream = torch::randn({3, 2, T, 8}, torch::kFloat64);
    std::vector<std::vector<torch::Tensor>> results;
    for (AttentionKernel kernel : kernels) {
      for (auto& t : in.leaves()) t.mutable_grad() = torch::Tensor();
      auto out = attend(in.q, in.k, in.v, in.sink_key, in.sink_value, o, kernel, prompt_lengths);
      out.backward(upstream);
      std::vector<torch::Tensor> r{out.detach()};
      for (auto& t : in.leaves()) r.push_back(t.grad().clone());
      torch::NoGradGuard no_grad;
      auto plain = attend(in.q, in.k, in.v, in.sink_key, in.sink_value, o, kernel);
      for (int64_t b = 0; b < 3; ++b) {
        const int64_t P = prompt_lengths[b].item<int64_t>();
        auto row = [&](const torch::Tensor& t) { return t.narrow(0, b, 1); };
        if (P > 0) {
          auto alone = attend(row(in.q).narrow(2, 0, P), row(in.k).narrow(2, 0, P),
                              row(in.v).narrow(2, 0, P), in.sink_key, in.sink_value, o, kernel);
          EXPECT_LT(max_abs(row(out).narrow(2, 0, P) - alone), 1e-12)
              << "kernel " << static_cast<int>(kernel) << " cap " << cap << " row " << b;
        }
        if (P < T) {
          EXPECT_LT(max_abs(row(out).narrow(2, P, T - P) - row(plain).narrow(2, P, T - P)), 1e-12)
              << "kernel " << static_cast<int>(kernel) << " cap " << cap << " row " << b;
        }
      }
      results.push_back(r);
    }
    // The explicit kernel forms its scores in fp32 even for fp64 inputs.
    for (size_t k = 1; k < results.size(); ++k) {
      for (size_t i = 0; i < results[0].size(); ++i) {
        EXPECT_LT(max_abs(results[k][i] - results[0][i]), 1e-5)
            << "kernel " << static_cast<int>(kernels[k]) << " against explicit, tensor " << i
            << " cap " << cap;
      }
    }
  }
}

// The paper's backbone (soft-cap 30, sink) with each kernel: same logits and
// parameter gradients.
TEST(BlockwiseAttention, ModelMatchesExplicitModel) {
  for (bool causal : {true, false}) {
    TransformerOptions o = testing::small_backbone(24, 40);
    o.causal = causal;
    o.soft_cap = 30.0;
    o.attention_block = 7;
    std::vector<std::vector<torch::Tensor>> grads;
    std::vector<torch::Tensor> logits;
    for (auto kernel : {AttentionKernel::kBlockwise, AttentionKernel::kExplicit}) {
      o.kernel = kernel;
      Transformer m = testing::random_model(o, 2);
      torch::manual_seed(9);
      auto tokens = torch::randint(0, 40, {3, 24}, torch::kLong);
      auto out = m->forward(tokens);
      out.square().mean().backward();
      logits.push_back(out.detach());
      grads.emplace_back();
      for (auto& p : m->parameters()) grads.back().push_back(p.grad().clone());
    }
    EXPECT_TRUE(torch::allclose(logits[0], logits[1], 1e-5, 1e-5)) << "causal " << causal;
    for (size_t i = 0; i < grads[0].size(); ++i) {
      EXPECT_TRUE(torch::allclose(grads[0][i], grads[1][i], 1e-4, 1e-5))
          << "parameter " << i << " causal " << causal;
    }
  }
}

// model.attention: auto takes the fused kernel unless the soft-cap is on
// (which the fused kernel cannot apply), and then the blockwise one.
TEST(BlockwiseAttention, AutoPicksItWhenTheSoftCapIsOn) {
  ModelConfig mc{};
  mc.layers = 1;
  mc.d_model = 32;
  mc.heads = 2;
  mc.context = 16;
  mc.attention_block = 32;
  ParameterizationConfig pc{"standard", 0.02, 0.4, 1, 4, 512, 0.02};
  OptimConfig oc{"adamw", 1e-3, 0.9, 0.99, 1e-8, 0.1, 1.0};
  const Parameterization p(pc, mc, oc);
  auto kernel_for = [&](const std::string& attention, double soft_cap) {
    mc.attention = attention;
    mc.soft_cap = soft_cap;
    return make_transformer_options(mc, p, true, 10, 10).kernel;
  };
  EXPECT_EQ(kernel_for("auto", 0.0), AttentionKernel::kSdpa);
  EXPECT_EQ(kernel_for("auto", 30.0), AttentionKernel::kBlockwise);
  EXPECT_EQ(kernel_for("explicit", 30.0), AttentionKernel::kExplicit);
  EXPECT_EQ(kernel_for("blockwise", 0.0), AttentionKernel::kBlockwise);
  EXPECT_EQ(make_transformer_options(mc, p, true, 10, 10).attention_block, 32);
}

}  // namespace
}  // namespace scalebed
