// The LM head and a per-token loss, computed in chunks of tokens so that the
// (tokens × vocab) logits are never held whole: with the paper's 131k
// vocabulary a micro-batch of 8 × 2048 tokens would otherwise keep 8 GiB of
// fp32 logits (and as much again for their gradient) alive through backward.
//
// Forward: per chunk of rows, logits = h·Wᵀ·head_scale (fp32), then the
// loss's value per row. Backward: per chunk, the logits again, the loss's
// analytic gradient with respect to them, then dh = dlogits·W and
// dW += dlogitsᵀ·h. Only h and W are saved. With bf16 the two matmuls run in
// bf16; logits, loss and gradients accumulate in fp32.
#pragma once

#include <torch/torch.h>

namespace scalebed {

// A loss that is a sum of independent per-row terms of the logits. The
// objective holds its own per-row tensors (targets, noise) and sees rows
// [begin, begin + n) at a time.
class RowLoss : public torch::CustomClassHolder {
 public:
  // logits (n, V) fp32 of rows begin.. -> per-row loss (n) fp32
  virtual torch::Tensor value(const torch::Tensor& logits, int64_t begin) const = 0;
  // d loss_r / d logits (n, V) fp32, row r scaled by grad_out[r] (n)
  virtual torch::Tensor grad(const torch::Tensor& logits, int64_t begin,
                             const torch::Tensor& grad_out) const = 0;
};

// Next-token cross-entropy, −log softmax(logits)[target], per row.
class CrossEntropyRows : public RowLoss {
 public:
  explicit CrossEntropyRows(torch::Tensor targets) : targets_(std::move(targets)) {}  // (M) int64
  torch::Tensor value(const torch::Tensor& logits, int64_t begin) const override;
  torch::Tensor grad(const torch::Tensor& logits, int64_t begin,
                     const torch::Tensor& grad_out) const override;

 private:
  torch::Tensor targets_;
};

// hidden (M, d); weight (V, d) -> per-row loss (M) fp32, differentiable in
// hidden and weight. `chunk_rows` rows per chunk (head_chunk_rows in
// model/accounting.h for a vocabulary).
torch::Tensor chunked_head_loss(const torch::Tensor& hidden, const torch::Tensor& weight,
                                double head_scale, bool bf16, c10::intrusive_ptr<RowLoss> loss,
                                int64_t chunk_rows);

}  // namespace scalebed
