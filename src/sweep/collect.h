// The collected table of a sweep (run-directory.md): one row per point with
// its index, name and status, every swept and derived value, and its
// summary.json flattened (params_non_embedding, flops_md, final_val_loss, ...).
#pragma once

#include <string>
#include <vector>

#include "sweep/sweep.h"

namespace scalebed {

struct CollectResult {
  int rows = 0, done = 0;
};

// Writes `csv_path` and `jsonl_path` atomically.
CollectResult collect_sweep(const SweepSpec& spec, const std::vector<SweepPoint>& points,
                            const std::string& csv_path, const std::string& jsonl_path);

}  // namespace scalebed
