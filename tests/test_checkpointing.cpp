// Activation checkpointing of transformer blocks against the same model
// without it: identical loss and parameter gradients (fp32 and bf16, causal
// and bidirectional), and less memory allocated by a forward + backward
// (LibTorch's CPU allocation counter).
#include <gtest/gtest.h>

#include "model/transformer.h"
#include "model_test_util.h"
#include "train/device.h"

namespace scalebed {
namespace {

TransformerOptions options(bool causal, bool bf16, bool checkpoint) {
  TransformerOptions o = testing::small_backbone(24, 40);
  o.layers = 3;
  o.causal = causal;
  o.soft_cap = 30;
  o.kernel = AttentionKernel::kBlockwise;
  o.attention_block = 8;
  o.bf16 = bf16;
  o.checkpoint_blocks = checkpoint;
  return o;
}

struct Pass {
  torch::Tensor loss;
  std::vector<torch::Tensor> grads;
  int64_t peak_bytes = 0;
};

Pass forward_backward(const TransformerOptions& o, int64_t batch) {
  Transformer m = testing::random_model(o, 5);
  torch::manual_seed(6);
  auto tokens = torch::randint(0, 40, {batch, 24}, torch::kLong);
  auto targets = torch::randint(0, 40, {batch * 24}, torch::kLong);
  Pass out;
  {
    CpuAllocationWindow window;
    auto loss = m->head_loss(m->hidden(tokens), c10::make_intrusive<CrossEntropyRows>(targets));
    out.loss = loss.mean();
    out.loss.backward();
    out.peak_bytes = window.peak_bytes();
  }
  for (auto& p : m->parameters()) out.grads.push_back(p.grad().clone());
  return out;
}

TEST(ActivationCheckpointing, SameLossAndGradientsAsWithout) {
  for (bool causal : {true, false}) {
    for (bool bf16 : {false, true}) {
      auto plain = forward_backward(options(causal, bf16, false), 4);
      auto checkpointed = forward_backward(options(causal, bf16, true), 4);
      // The recomputation runs the same operations on the same inputs.
      EXPECT_TRUE(torch::equal(plain.loss, checkpointed.loss)) << causal << bf16;
      ASSERT_EQ(plain.grads.size(), checkpointed.grads.size());
      for (size_t i = 0; i < plain.grads.size(); ++i) {
        EXPECT_TRUE(torch::equal(plain.grads[i], checkpointed.grads[i]))
            << "parameter " << i << " causal " << causal << " bf16 " << bf16 << " max diff "
            << (plain.grads[i] - checkpointed.grads[i]).abs().max().item<double>();
      }
    }
  }
}

TEST(ActivationCheckpointing, AllocatesLessForTheSameStep) {
  auto plain = forward_backward(options(true, false, false), 32);
  auto checkpointed = forward_backward(options(true, false, true), 32);
  std::printf("peak allocation of a step: %.2f MiB without, %.2f MiB with checkpointing\n",
              plain.peak_bytes / 1048576.0, checkpointed.peak_bytes / 1048576.0);
  // Three blocks keep one input each instead of all their activations.
  EXPECT_LT(checkpointed.peak_bytes, 0.7 * plain.peak_bytes);
}

}  // namespace
}  // namespace scalebed
