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

// Reads a safetensors file written by write_safetensors (or any with F32,
// BF16, F16 or I64 tensors), in file order. A truncated file, a header that
// is not JSON, an unknown dtype or a byte range that disagrees with the shape
// is an Error naming the file (and the tensor).
std::vector<std::pair<std::string, torch::Tensor>> read_safetensors(const std::string& path);

// Copies the weights of an exported folder (`trainer export`: config.json of
// format version kExportFormatVersion, model.safetensors) into `model`'s
// parameters, by name. Every parameter must be in the file with its shape,
// and the file must hold no other tensor; otherwise an Error naming the
// folder and the tensors that differ, with `model` unchanged.
void load_exported_weights(torch::nn::Module& model, const std::string& dir);

// Exports the checkpoint at `step` (the newest complete one when absent) of
// run directory `run_dir` into `out_dir`: model.safetensors (the model's
// parameters by their module names, fp32) and config.json (backbone shape and
// options, the multipliers the forward pass applies, the objective, the data's
// vocabulary and tokenizer, the step). Returns the checkpoint it read.
std::string export_run(const std::string& run_dir, std::optional<int64_t> step,
                       const std::string& out_dir);

}  // namespace scalebed
