// Checkpoints: model parameters and buffers, optimizer moments, and the
// training position (step, tokens, metrics offset, best loss), written under
// a temporary name and renamed into checkpoints/step_XXXXXXXX when complete.
// Data batches and objective noise are functions of (seed, step), so the step
// is the whole data position and RNG state.
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "distributed/data_parallel.h"
#include "model/transformer.h"
#include "optim/optim.h"
#include "train/run_dir.h"

namespace scalebed {

struct TrainState {
  int64_t step = 0;           // optimizer steps done
  int64_t tokens = 0;         // training tokens seen
  double elapsed_s = 0;       // wall-clock of earlier segments of the run
  int64_t metrics_bytes = 0;  // size of metrics.jsonl at this step
  double flops_executed = 0;  // training + evaluation FLOPs performed so far (PaLM counting)
  double best_val_loss = -1, last_val_loss = -1;  // -1: not evaluated yet
  // train_metric summed over the steps since the last metrics line (and how
  // many), for that line's train_metric_mean; kept so a resumed run logs the
  // same means as an uninterrupted one.
  double metric_since_log = 0;
  int64_t steps_since_log = 0;
  nlohmann::json to_json() const;
  static TrainState from_json(const nlohmann::json& j);
};

// checkpoints/<this>: "step_" and the step in 8 digits.
std::string checkpoint_name(int64_t step);

// Writes checkpoints/step_<step>; keeps the newest `keep` and deletes older.
// Every file and the directory are fsynced before the rename that publishes
// it, and state.json records the size and CRC32 of tensors.pt and its own. A complete
// step_<step> that verifies is never written again (its state is the same);
// one that does not is moved aside, never deleted before its replacement is
// in place. Old checkpoints are renamed out of the step_* namespace before
// they are deleted, so a kill mid-way leaves no half-deleted step_*.
//
// Under sharding (dp given, every rank calls it) each rank writes its
// optimizer chunks to optim.rank<r>.pt, and state.json lists those files
// with their size, CRC32 and which elements of which parameter they hold;
// tensors.pt then holds the model only. load_checkpoint reads either layout
// into any world size or shard mode.
void save_checkpoint(const RunDirectory& run, TransformerImpl& model, const Optimizer& optimizer,
                     const TrainState& state, int64_t keep, DataParallel* dp = nullptr);

// Why checkpoint directory `dir` cannot be resumed from ("" when it can):
// a missing or unparsable state.json, a state.json or tensors.pt whose CRC32
// (or size) differs from the record (checkpoints from before the record are
// taken as they are), or a metrics offset beyond the `metrics_bytes` that
// metrics.jsonl holds (lines lost after a power cut).
std::string checkpoint_problem(const std::string& dir, int64_t metrics_bytes);

// Restores from one checkpoint directory. Throws Error naming the file when
// it is incomplete or does not match the model.
TrainState load_checkpoint(const std::string& dir, TransformerImpl& model, Optimizer& optimizer);

// Removes what an interrupted write leaves behind (checkpoints/.tmp-*, and
// .trash-*, and the run directory's *.tmp.<pid> files): never complete, never
// read. Only the run directory's owner may call it.
void remove_leftovers(const RunDirectory& run);

}  // namespace scalebed
