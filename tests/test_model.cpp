// The backbone against closed forms and against itself: parameter counts vs
// 12d²+11d per layer, causality (a future token cannot move past logits),
// the fused SDPA kernel vs the explicit reference, RoPE's relative-position
// property, and each parameter's group and initialisation.
#include <gtest/gtest.h>

#include <cmath>

#include "model/accounting.h"
#include "model/transformer.h"
#include "model_test_util.h"

namespace scalebed {
namespace {

using testing::random_model;

TransformerOptions small_options(bool causal, bool sink, AttentionKernel kernel) {
  TransformerOptions o = testing::small_backbone();
  o.causal = causal;
  o.attention_sink = sink;
  o.kernel = kernel;
  return o;
}

TEST(ParamCounts, ClosedFormMatchesTheModule) {
  for (int64_t d : {32, 64, 96}) {
    for (bool sink : {false, true}) {
      for (bool qk : {false, true}) {
        TransformerOptions o = small_options(true, sink, AttentionKernel::kSdpa);
        o.d_model = d;
        o.qk_norm = qk;
        Transformer m(o);
        ParamCounts expected = count_params(o), actual = count_params(*m);
        EXPECT_EQ(actual.non_embedding, expected.non_embedding) << d << sink << qk;
        EXPECT_EQ(actual.embedding, expected.embedding);
        int64_t numel = 0;
        for (const auto& p : m->parameters()) numel += p.numel();
        EXPECT_EQ(expected.total, numel);
      }
    }
  }
}

TEST(ParamCounts, PaperBackbonePerLayerIs12dSquaredPlus11d) {
  // q,k,v,o 4d² + MLP 8d²+5d + block norms 2d + QK-norm gains 2d + sink 2d.
  TransformerOptions o = small_options(true, true, AttentionKernel::kSdpa);
  for (int64_t d : {64, 128}) {
    o.d_model = d;
    EXPECT_EQ(count_params(o).per_layer, 12 * d * d + 11 * d);
    EXPECT_EQ(count_params(o).non_embedding, o.layers * (12 * d * d + 11 * d) + d);
    // model.md's table labels the same shape with 12d² + 14d per layer.
    EXPECT_EQ(count_params(o).paper_table_non_embedding, o.layers * (12 * d * d + 14 * d));
  }
  o.attention_sink = false;  // not the paper's backbone: no label
  EXPECT_EQ(count_params(o).paper_table_non_embedding, 0);
}

TEST(Flops, ConventionsMatchModelMd) {
  TransformerOptions o = small_options(true, true, AttentionKernel::kSdpa);
  const double L = o.layers, d = o.d_model, T = o.context;
  const FlopsPerToken f = flops_per_token(o);
  EXPECT_DOUBLE_EQ(f.md, 72 * L * d * d + 12 * L * d * T);
  EXPECT_DOUBLE_EQ(f.c6nd, 6.0 * count_params(o).non_embedding);
  EXPECT_DOUBLE_EQ(f.palm,
                   6.0 * (count_params(o).non_embedding + o.vocab_out * d) + 12 * L * d * T);
}

TEST(Attention, CausalModelNeverSeesTheFuture) {
  for (auto kernel : {AttentionKernel::kSdpa, AttentionKernel::kExplicit}) {
    for (bool sink : {false, true}) {
      auto o = small_options(true, sink, kernel);
      auto m = random_model(o);
      torch::NoGradGuard g;
      auto tokens = torch::randint(0, 50, {2, 12}, torch::kLong);
      auto changed = tokens.clone();
      changed.index_put_({torch::indexing::Slice(), 7},
                         (tokens.index({torch::indexing::Slice(), 7}) + 1) % 50);
      auto a = m->forward(tokens), b = m->forward(changed);
      using torch::indexing::Slice;
      EXPECT_TRUE(torch::equal(a.index({Slice(), Slice(0, 7)}), b.index({Slice(), Slice(0, 7)})));
      EXPECT_FALSE(torch::allclose(a.index({Slice(), Slice(7)}), b.index({Slice(), Slice(7)})));
    }
  }
}

TEST(Attention, BidirectionalModelSeesEveryPosition) {
  auto m = random_model(small_options(false, true, AttentionKernel::kSdpa));
  torch::NoGradGuard g;
  auto tokens = torch::randint(0, 50, {1, 12}, torch::kLong);
  auto changed = tokens.clone();
  changed.index_put_({0, 11}, (tokens.index({0, 11}) + 1) % 50);
  EXPECT_FALSE(
      torch::allclose(m->forward(tokens).index({0, 0}), m->forward(changed).index({0, 0})));
}

TEST(Attention, SdpaAgreesWithExplicitReference) {
  for (bool causal : {true, false}) {
    for (bool sink : {false, true}) {
      auto o = small_options(causal, sink, AttentionKernel::kSdpa);
      torch::manual_seed(3);
      auto q = torch::randn({2, 4, 16, 8}), k = torch::randn({2, 4, 16, 8}),
           v = torch::randn({2, 4, 16, 8});
      torch::Tensor sk, sv;
      if (sink) {
        sk = torch::randn({4, 8});
        sv = torch::randn({4, 8});
      }
      auto fused = attend(q, k, v, sk, sv, o, AttentionKernel::kSdpa);
      auto reference = attend(q, k, v, sk, sv, o, AttentionKernel::kExplicit);
      EXPECT_TRUE(torch::allclose(fused, reference, 1e-5, 1e-5)) << causal << sink;
    }
  }
}

TEST(Attention, SinkSlotAbsorbsAttention) {
  // A sink key far larger than every score takes all attention: output = sink value.
  auto o = small_options(false, true, AttentionKernel::kExplicit);
  auto q = torch::ones({1, 4, 3, 8}), k = torch::zeros({1, 4, 3, 8}),
       v = torch::randn({1, 4, 3, 8});
  auto sk = torch::full({4, 8}, 100.0), sv = torch::randn({4, 8});
  auto out = attend(q, k, v, sk, sv, o, AttentionKernel::kExplicit);
  EXPECT_TRUE(torch::allclose(out, sv.view({1, 4, 1, 8}).expand({1, 4, 3, 8}), 1e-5, 1e-5));
}

TEST(Attention, SoftCapBoundsScoresAndVanishesForLargeCaps) {
  auto o = small_options(false, false, AttentionKernel::kExplicit);
  torch::manual_seed(1);
  auto q = torch::randn({1, 2, 5, 8}), k = torch::randn({1, 2, 5, 8}),
       v = torch::randn({1, 2, 5, 8});
  auto plain = attend(q, k, v, {}, {}, o, AttentionKernel::kExplicit);
  o.soft_cap = 1e6;
  EXPECT_TRUE(
      torch::allclose(plain, attend(q, k, v, {}, {}, o, AttentionKernel::kExplicit), 1e-5, 1e-5));
  o.soft_cap = 1e-3;  // every score capped to ~0: uniform attention = mean of values
  auto capped = attend(q, k, v, {}, {}, o, AttentionKernel::kExplicit);
  EXPECT_TRUE(torch::allclose(capped, v.mean(2, true).expand_as(v), 0.0, 1e-2));
}

TEST(Rope, DotProductDependsOnlyOnRelativePosition) {
  const int64_t T = 12, Dh = 8;
  auto inv = torch::pow(10000.0, -torch::arange(0, Dh / 2, torch::kFloat64) * 2.0 / Dh);
  auto ang = torch::outer(torch::arange(T, torch::kFloat64), inv);
  auto cos = ang.cos().to(torch::kFloat32), sin = ang.sin().to(torch::kFloat32);
  torch::manual_seed(0);
  auto qv = torch::randn({Dh}), kv = torch::randn({Dh});
  auto q = apply_rope(qv.expand({1, 1, T, Dh}).contiguous(), cos, sin)[0][0];  // (T, Dh)
  auto k = apply_rope(kv.expand({1, 1, T, Dh}).contiguous(), cos, sin)[0][0];
  auto dot = [&](int m, int n) { return (q[m] * k[n]).sum().item<double>(); };
  EXPECT_NEAR(dot(5, 3), dot(9, 7), 1e-4);
  EXPECT_NEAR(dot(2, 2), (qv * kv).sum().item<double>(), 1e-5);  // position 0 offset: no rotation
  EXPECT_NEAR(q.norm().item<double>(), std::sqrt(double(T)) * qv.norm().item<double>(), 1e-3);
}

TEST(Parameterization, GroupsAndStandardInit) {
  ModelConfig mc{};
  ParameterizationConfig pc{"standard", 0.02, 0.4, 1, 4, 512, 0.02};
  OptimConfig oc{"adamw", 1e-3, 0.9, 0.99, 1e-8, 0.1, 1.0};
  Parameterization p(pc, mc, oc);
  TransformerOptions o = small_options(true, true, AttentionKernel::kSdpa);
  o.d_model = 128;
  o.vocab_in = o.vocab_out = 512;
  torch::manual_seed(0);
  Transformer m(o);
  m->initialize(p);
  for (const auto& item : m->named_parameters()) {
    const ParamGroup g = group_of(item.key());
    const auto& t = item.value();
    if (g == ParamGroup::kVector) {
      EXPECT_EQ(t.abs().max().item<double>(), 0.0) << item.key();
    } else {
      EXPECT_NEAR(t.std().item<double>(), 0.02, 0.002) << item.key();
    }
  }
  EXPECT_EQ(group_of("embed.weight"), ParamGroup::kEmbedding);
  EXPECT_EQ(group_of("head.weight"), ParamGroup::kHead);
  EXPECT_EQ(group_of("blocks.0.attn.q.weight"), ParamGroup::kHidden);
  EXPECT_EQ(group_of("blocks.0.mlp.up.bias"), ParamGroup::kVector);
  EXPECT_EQ(group_of("blocks.1.attn.q_norm.weight"), ParamGroup::kVector);
  EXPECT_EQ(group_of("blocks.1.attn.sink_key"), ParamGroup::kVector);
  EXPECT_DOUBLE_EQ(p.rule(ParamGroup::kHidden).weight_decay, 0.1);
  EXPECT_DOUBLE_EQ(p.rule(ParamGroup::kVector).weight_decay, 0.0);
}

TEST(CompleteP, ModelParametersGetTheirGroupsInitAndMultipliers) {
  ModelConfig mc{};
  mc.d_model = 128;
  mc.layers = 8;
  ParameterizationConfig pc{"completep", 0.02, 0.4, 1, 4, 512, 0.02};
  OptimConfig oc{"laprop", 0.5, 0.9, 0.99, 2.5e-9, 0.0, 1.0};
  Parameterization p(pc, mc, oc);
  TransformerOptions o = small_options(true, true, AttentionKernel::kSdpa);
  o.d_model = 128;
  o.layers = 8;
  o.vocab_in = o.vocab_out = 1024;
  o.residual_scale = p.residual_scale();
  o.head_scale = p.head_scale();
  torch::manual_seed(0);
  Transformer m(o);
  m->initialize(p);
  for (const auto& item : m->named_parameters()) {
    const auto g = group_of(item.key());
    const double std = item.value().std().item<double>();
    if (g == ParamGroup::kHidden) EXPECT_NEAR(std, 0.4 / std::sqrt(128.0), 0.004) << item.key();
    if (g == ParamGroup::kEmbedding) EXPECT_NEAR(std, 0.02, 0.001) << item.key();
    if (g == ParamGroup::kHead || g == ParamGroup::kVector) {
      EXPECT_EQ(item.value().abs().max().item<double>(), 0.0) << item.key();
    }
  }
  // The block's residual branches carry 4/L; the zero head gives zero logits.
  EXPECT_DOUBLE_EQ(m->blocks[0]->as<Block>()->residual_scale, 0.5);
  torch::NoGradGuard g;
  EXPECT_EQ(m->forward(torch::randint(0, 1024, {1, 8})).abs().max().item<double>(), 0.0);
}

TEST(MemoryEstimate, AutoMicroBatchIsTheLargestDivisorThatFits) {
  TransformerOptions o = small_options(true, true, AttentionKernel::kSdpa);
  o.context = 512;
  o.vocab_out = 32000;
  const double one = estimate_memory(o, 1).total(), eight = estimate_memory(o, 8).total();
  EXPECT_GT(eight, one);
  EXPECT_EQ(largest_fitting_micro_batch(o, 24, eight), 8);  // 8 fits, 12 does not
  EXPECT_EQ(largest_fitting_micro_batch(o, 24, eight - 1), 6);
  EXPECT_EQ(largest_fitting_micro_batch(o, 24, one - 1), 0);  // nothing fits
}

// Per rank under data parallelism (RankLayout): unsharded ranks add the
// all-reduce buffers (a second gradient copy); sharding divides the optimizer
// moments by the world size, and sharding gradients too leaves their chunks
// plus a few buckets; activations do not change.
TEST(MemoryEstimate, ShardingDividesOptimizerStateAndGradientsByTheWorldSize) {
  TransformerOptions o = small_options(true, true, AttentionKernel::kSdpa);
  o.vocab_in = o.vocab_out = 64;
  const double P = count_params(o).total;
  // A bucket larger than any one tensor (which would make its own bucket).
  const double bucket = 8.0 * o.mlp_ratio * o.d_model * o.d_model;
  ASSERT_LT(bucket, 4 * P);
  const auto alone = estimate_memory(o, 4);
  EXPECT_DOUBLE_EQ(alone.grads_bytes, 4 * P);
  EXPECT_DOUBLE_EQ(alone.optimizer_bytes, 8 * P);
  RankLayout ranks;
  ranks.world = 4;
  ranks.bucket_bytes = bucket;
  const auto unsharded = estimate_memory(o, 4, ranks);
  EXPECT_DOUBLE_EQ(unsharded.grads_bytes, 8 * P);
  EXPECT_DOUBLE_EQ(unsharded.optimizer_bytes, 8 * P);
  ranks.shard_optimizer = true;
  const auto zero1 = estimate_memory(o, 4, ranks);
  EXPECT_DOUBLE_EQ(zero1.optimizer_bytes, 2 * P);
  EXPECT_DOUBLE_EQ(zero1.grads_bytes, 4 * P + P + 2 * bucket);
  ranks.shard_gradients = true;
  const auto zero2 = estimate_memory(o, 4, ranks);
  EXPECT_DOUBLE_EQ(zero2.optimizer_bytes, 2 * P);
  EXPECT_DOUBLE_EQ(zero2.grads_bytes, P + 3 * bucket);
  EXPECT_DOUBLE_EQ(zero2.activation_bytes, alone.activation_bytes);
  EXPECT_LT(zero2.total(), zero1.total());
  EXPECT_LT(zero1.total(), unsharded.total());
}

}  // namespace
}  // namespace scalebed
