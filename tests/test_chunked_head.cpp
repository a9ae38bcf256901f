// The chunked LM head + loss against the dense computation it replaces
// (logits = h·Wᵀ·scale held whole, then the loss with plain autograd): values
// and the gradients of h and W for cross-entropy and for GIDD's KL + IS
// (masked and uniform noise, with inactive tokens), with chunks that do not
// divide the rows; bf16 against the fp32 result; and a whole AR model's loss
// and parameter gradients against cross-entropy of its full logits.
#include <gtest/gtest.h>

#include "model/chunked_head.h"
#include "model/transformer.h"
#include "model_test_util.h"
#include "objectives/gidd.h"

namespace scalebed {
namespace {

struct Case {
  torch::Tensor hidden, weight, upstream;
};

Case random_case(int64_t M, int64_t d, int64_t V, uint64_t seed) {
  torch::manual_seed(seed);
  return {torch::randn({M, d}), torch::randn({V, d}) * 0.5, torch::rand({M})};
}

// Loss per row and the gradients of hidden and weight under `upstream`.
struct Result {
  torch::Tensor value, d_hidden, d_weight;
};

Result chunked(const Case& c, double scale, bool bf16, c10::intrusive_ptr<RowLoss> loss,
               int64_t rows) {
  auto h = c.hidden.clone().requires_grad_(), w = c.weight.clone().requires_grad_();
  auto value = chunked_head_loss(h, w, scale, bf16, std::move(loss), rows);
  (value * c.upstream).sum().backward();
  return {value.detach(), h.grad(), w.grad()};
}

template <typename DenseLoss>
Result dense(const Case& c, double scale, DenseLoss loss_of_logits) {
  auto h = c.hidden.clone().requires_grad_(), w = c.weight.clone().requires_grad_();
  auto value = loss_of_logits(torch::matmul(h, w.t()) * scale);
  (value * c.upstream).sum().backward();
  return {value.detach(), h.grad(), w.grad()};
}

void expect_close(const Result& a, const Result& b, double rtol, double atol,
                  const std::string& what) {
  EXPECT_TRUE(torch::allclose(a.value, b.value, rtol, atol))
      << what << " value, max diff " << (a.value - b.value).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(a.d_hidden, b.d_hidden, rtol, atol))
      << what << " d hidden, max diff " << (a.d_hidden - b.d_hidden).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(a.d_weight, b.d_weight, rtol, atol))
      << what << " d weight, max diff " << (a.d_weight - b.d_weight).abs().max().item<double>();
}

TEST(ChunkedHead, CrossEntropyMatchesDenseLogits) {
  const int64_t M = 37, d = 16, V = 29;
  auto c = random_case(M, d, V, 1);
  auto targets = torch::randint(0, V, {M}, torch::kLong);
  auto ce = [&](const torch::Tensor& logits) {
    return torch::nn::functional::cross_entropy(
        logits, targets, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
  };
  const auto reference = dense(c, 0.7, ce);
  for (int64_t rows : {1, 5, 37, 1000}) {
    expect_close(chunked(c, 0.7, false, c10::make_intrusive<CrossEntropyRows>(targets), rows),
                 reference, 1e-5, 1e-6, "rows " + std::to_string(rows));
  }
  // bf16 matmuls: logits carry bf16's relative 2^-8 (0.4%); values of a few
  // nats and gradients of order one then agree to about 1e-2.
  expect_close(chunked(c, 0.7, true, c10::make_intrusive<CrossEntropyRows>(targets), 5), reference,
               2e-2, 2e-2, "bf16");
}

TEST(ChunkedHead, KlPlusIsMatchesDenseReference) {
  const int64_t M = 41, d = 12, N = 23;
  for (double shift : {-1000.0, 0.0, 1000.0}) {  // masked, balanced, uniform
    gidd::NoiseProcess p;
    p.vocab = N;
    p.mixing_shift = shift;
    auto c = random_case(M, d, N, 2);
    auto x = torch::randint(0, N, {M}, torch::kLong);
    auto log_snr = gidd::log_snr_from_uniform(torch::rand({M}), p);
    auto z = gidd::corrupt(x, log_snr, torch::rand({M}), torch::rand({M}),
                           torch::randint(0, 1000, {M}), p);
    auto active = gidd::elbo_weight(log_snr, z, x, p).gt(0);  // masked noise: z = x inactive
    auto reference = dense(c, 1.3, [&](const torch::Tensor& logits) {
      auto full = gidd::kl_plus_is_reference(logits, x, z, log_snr, p);
      return torch::where(active, full, torch::zeros_like(full));
    });
    auto loss = c10::make_intrusive<gidd::KlPlusIsRows>(x, z, log_snr, active, p);
    expect_close(chunked(c, 1.3, false, loss, 6), reference, 1e-4, 1e-5,
                 "shift " + std::to_string(shift));
  }
}

// An AR model's per-token loss through the chunked head against the
// cross-entropy of its full logits (what the objective computed before).
TEST(ChunkedHead, ModelLossAndGradientsMatchFullLogits) {
  TransformerOptions o = testing::small_backbone(16, 50);
  o.head_scale = 2.0;
  Transformer m = testing::random_model(o, 3);
  auto tokens = torch::randint(0, 50, {3, 16}, torch::kLong);
  auto targets = torch::randint(0, 50, {3 * 16}, torch::kLong);
  std::vector<torch::Tensor> losses, grads;
  for (bool use_chunks : {true, false}) {
    m->zero_grad();
    torch::Tensor loss;
    if (use_chunks) {
      loss = m->head_loss(m->hidden(tokens), c10::make_intrusive<CrossEntropyRows>(targets));
    } else {
      loss = torch::nn::functional::cross_entropy(
          m->forward(tokens).reshape({-1, 50}), targets,
          torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kNone));
    }
    loss.mean().backward();
    losses.push_back(loss.detach());
    std::vector<torch::Tensor> g;
    for (auto& p : m->parameters()) g.push_back(p.grad().reshape({-1}));
    grads.push_back(torch::cat(g));
  }
  EXPECT_TRUE(torch::allclose(losses[0], losses[1], 1e-5, 1e-6));
  EXPECT_TRUE(torch::allclose(grads[0], grads[1], 1e-4, 1e-6))
      << "max diff " << (grads[0] - grads[1]).abs().max().item<double>();
}

}  // namespace
}  // namespace scalebed
