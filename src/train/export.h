// `trainer export`: a run's weights as safetensors plus config.json, for
// tools outside scalebed (python/scalebed_model.py, notebooks, evaluation
// harnesses). Safetensors is an 8-byte little-endian header length, a JSON
// header naming each tensor's dtype, shape and byte range, then the raw
// little-endian buffers; written directly (no library needed).
#pragma once

#include <torch/torch.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace scalebed {

// The version of the exported folder's layout; python/scalebed_model.py
// refuses any other.
constexpr int kExportFormatVersion = 1;

// Writes `tensors` (contiguous fp32/bf16/int64 on the CPU) as a safetensors
// file at `path`, atomically (temporary name, fsync, rename).
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                       const std::vector<std::pair<std::string, std::string>>& metadata);

// Exports the checkpoint at `step` (the newest complete one when absent) of
// run directory `run_dir` into `out_dir`: model.safetensors (the model's
// parameters by their module names, fp32) and config.json (backbone shape and
// options, the multipliers the forward pass applies, the objective, the data's
// vocabulary and tokenizer, the step). Returns the checkpoint it read.
std::string export_run(const std::string& run_dir, std::optional<int64_t> step,
                       const std::string& out_dir);

}  // namespace scalebed
