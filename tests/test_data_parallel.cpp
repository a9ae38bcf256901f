// DataParallel's gradient buckets in one process (a world of one rank, over
// Gloo on the CPU and over NCCL on a GPU where there is one): all-reduces are
// launched by the gradient-accumulator hooks during the final micro-step's
// backward (not after it, not on earlier micro-steps), and the synchronised
// gradients equal the locally accumulated ones.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include "distributed/data_parallel.h"
#include "distributed/launcher.h"

namespace scalebed {
namespace {

void expect_reductions_in_final_backward_only(const torch::Device& device) {
  const auto on_device = torch::TensorOptions().device(device);
  std::vector<torch::Tensor> params;
  for (int k = 0; k < 3; ++k) params.push_back(torch::randn({100}, on_device).requires_grad_());
  RankInfo ranks;
  ranks.master_port = free_local_port();
  // 100 floats = 400 bytes per parameter; 300-byte buckets hold one each.
  DataParallel dp(ranks, device, params, 300.0 / (1024 * 1024), std::chrono::seconds(30));
  ASSERT_EQ(dp.buckets(), 3);
  EXPECT_EQ(dp.transport().rfind(device.is_cuda() ? "NCCL on cuda:0" : "Gloo on", 0), 0)
      << dp.transport();
  const auto x1 = torch::randn({100}, on_device), x2 = torch::randn({100}, on_device);
  auto loss = [&](const torch::Tensor& x) {
    return (params[0] * x).sum() + (params[1] * x).sum() * 2 + (params[2] * x).sum() * 3;
  };
  dp.set_final_micro_step(false);
  loss(x1).backward();
  EXPECT_EQ(dp.buckets_launched_in_backward(), 0);  // a non-final micro-step reduces nothing
  dp.set_final_micro_step(true);
  loss(x2).backward();
  EXPECT_EQ(dp.buckets_launched_in_backward(), 3);  // every bucket, from inside backward
  dp.finish_gradient_sync();
  // Expected in the order autograd adds (c·x1 + c·x2, not c·(x1 + x2)):
  // the other order differs by rounding, beyond allclose where x1 + x2 ≈ 0.
  for (int k = 0; k < 3; ++k) {
    EXPECT_TRUE(torch::allclose(params[k].grad(), (k + 1) * x1 + (k + 1) * x2)) << k;
  }
  EXPECT_EQ(dp.sum({1.5, 2.0}), (std::vector<double>{1.5, 2.0}));
}

TEST(DataParallelBuckets, GlooLaunchesReductionsDuringTheFinalBackwardOnly) {
  expect_reductions_in_final_backward_only(torch::kCPU);
}

TEST(DataParallelBuckets, NcclLaunchesReductionsDuringTheFinalBackwardOnly) {
  if (!torch::cuda::is_available()) GTEST_SKIP() << "no CUDA device here";
  expect_reductions_in_final_backward_only(torch::Device(torch::kCUDA, 0));
}

}  // namespace
}  // namespace scalebed
