// Public header of train/: building a run from its config and running it.
//
// build_training() validates everything a run needs (config, data, model,
// objective, optimizer) and writes nothing; run_training() then owns the run
// directory: it resumes from the newest complete checkpoint, trains, evaluates,
// checkpoints, and finishes with summary.json and DONE.
#pragma once

#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

#include "config/config.h"
#include "data/data.h"
#include "distributed/data_parallel.h"
#include "model/accounting.h"
#include "model/transformer.h"
#include "objectives/objective.h"
#include "optim/optim.h"
#include "util/exit_codes.h"

namespace scalebed {

struct Training {
  RunConfig cfg;
  Dataset data;
  std::unique_ptr<Objective> objective;
  std::unique_ptr<Parameterization> parameterization;
  TransformerOptions model_options;
  Transformer model{nullptr};
  std::unique_ptr<Optimizer> optimizer;
  ParamCounts params;
  FlopsPerToken flops;
  torch::Device device{torch::kCPU};
  RankInfo ranks;                    // this process's place in a data-parallel job
  std::unique_ptr<DataParallel> dp;  // null when training alone
  // --dry-run with micro_batch: auto when not one sequence fits: the budget
  // (bytes) that was missed; 0 otherwise.
  double micro_batch_budget_missed = 0;
  bool is_main() const { return ranks.rank == 0; }
  int64_t rank_batch() const { return cfg.train.batch_size / ranks.world; }  // sequences per rank
};

// train.memory_budget_gib: auto takes this share of the GPU's memory; the
// rest is headroom for the CUDA context, NCCL buffers and the caching
// allocator's fragmentation.
constexpr double kDeviceMemoryShare = 0.9;

// Validates and builds; throws Error on bad input. Writes nothing.
// kDryRun accounts in closed form without allocating the model or optimizer
// (so a 10B preset can be inspected on a laptop), and reports data that cannot
// be opened in data.description instead of failing, as long as model.vocab is given.
enum class BuildMode { kTrain, kDryRun };
// `planned_world` > 0 (kDryRun only): account for that many ranks, as
// `trainer --dry-run --world-size N` plans a launch.
std::unique_ptr<Training> build_training(const RunConfig& cfg, BuildMode mode = BuildMode::kTrain,
                                         int64_t planned_world = 0);

// How this run holds gradients and optimizer state per rank (world size,
// distributed.shard, bucket size), for the memory estimate.
RankLayout rank_layout(const Training& t);

// What --dry-run prints: resolved config, counts, FLOPs, tokens, memory.
void print_dry_run(const Training& t, std::ostream& out);

struct StepResult {
  double loss = 0, grad_norm = 0, metric = 0;  // mean loss, pre-clip norm, mean metric
  std::string failure;                         // non-empty: non-finite values, no update made
};

// One optimizer step at `step` with learning rate `lr`: gradient accumulation
// over micro-batches, the global norm, a finiteness check, clipping, update.
StepResult training_step(Training& t, const BatchSource& batches, int64_t step, double lr);

// The update at the end of a step: clips the gradients by their global norm
// (optim.grad_clip) and takes one optimizer step at `lr`. bench_train times it
// alone.
void apply_update(Training& t, const torch::Tensor& grad_norm, double lr);

// Runs (or resumes) the run in cfg.run_dir(); returns an ExitCode. With the
// stop-signal handlers installed (util/signals.h) it checkpoints and returns
// kExitInterrupted at the step boundary after SIGTERM, SIGUSR1 or SIGINT.
int run_training(Training& t);

// Samples from the newest checkpoint of a run directory: decoded text when
// the run's data has a tokenizer, space-separated token ids otherwise.
std::vector<std::string> sample_from_run(const std::string& run_dir, const SampleOptions& options,
                                         const std::string& prompt_text);

}  // namespace scalebed
