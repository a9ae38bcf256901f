// Public header of objectives/: the seam between the model and the training
// loop. An Objective turns (model, a batch of token windows) into the loss to
// optimise plus the comparable quantity to log (nats/token); the trainer never
// branches on which objective it runs.
#pragma once

#include <torch/torch.h>

#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <utility>

#include "config/config.h"
#include "model/transformer.h"

namespace scalebed {

struct Dataset;

struct ObjectiveOutput {
  torch::Tensor loss;        // scalar to optimise (mean over this micro-batch)
  torch::Tensor metric_sum;  // scalar: summed comparable nats (AR NLL, diffusion ELBO)
  int64_t metric_count = 0;  // tokens behind metric_sum
};

struct SampleOptions {
  int64_t num = 4;                    // sequences
  int64_t length = 0;                 // tokens per sequence (0 = the context)
  int64_t steps = 128;                // diffusion: denoising steps
  std::string sampler = "ancestral";  // diffusion: ancestral | adaptive
  std::string grid = "cosine";        // diffusion: step grid, cosine | linear in α
  double temperature = 1.0;           // 0 = greedy
  uint64_t seed = 0;
};

class Objective {
 public:
  virtual ~Objective() = default;
  virtual std::string kind() const = 0;       // "ar"
  virtual std::string loss_kind() const = 0;  // "nll" | "elbo"
  virtual bool causal() const = 0;
  virtual int64_t input_vocab(int64_t data_vocab) const { return data_vocab; }
  virtual int64_t output_vocab(int64_t data_vocab) const { return data_vocab; }
  // The tokens [begin, end) of a (T+1)-token window whose loss is scored, the
  // rest being context; the synthetic source's exact floor uses the same span.
  virtual std::pair<int64_t, int64_t> scored_span(int64_t context) const = 0;
  // Forward passes over each validation sequence per evaluation (for the
  // count of executed FLOPs).
  virtual int64_t eval_forward_passes() const { return 1; }
  // Objective-specific fields for summary.json (e.g. the noise type).
  virtual nlohmann::json summary_fields() const { return nlohmann::json::object(); }
  // Checks the opened data against what the objective needs of it (an Error
  // naming the file or key); nothing by default.
  virtual void check_data(const Dataset&) const {}

  // windows (B, T+1) int64 on the model's device; window b is row
  // first_row + b of the step's global batch. Any randomness of the objective
  // is a function of (step_seed, row) alone: exact resume, and the same
  // noise however the batch is split into micro-batches and ranks.
  virtual ObjectiveOutput train_loss(TransformerImpl& model, const torch::Tensor& windows,
                                     uint64_t step_seed, int64_t first_row) = 0;
  // Generates (num, length) token ids; AR continues `prompt` (1, P) when it
  // is defined, diffusion ignores it.
  virtual torch::Tensor sample(TransformerImpl& model, const SampleOptions& o,
                               const torch::Tensor& prompt) = 0;
  // Held-out loss; deterministic for a given validation row.
  virtual ObjectiveOutput eval_loss(TransformerImpl& model, const torch::Tensor& windows,
                                    int64_t first_row) = 0;
};

std::unique_ptr<Objective> make_objective(const ObjectiveConfig& cfg);
std::unique_ptr<Objective> make_diffusion_objective(const ObjectiveConfig& cfg);

}  // namespace scalebed
