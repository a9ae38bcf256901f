// Points from run directories (shared/spec/run-directory.md): one point per
// finished run (DONE present), with non-embedding parameters, tokens seen,
// the final validation loss and the FLOPs under a chosen convention, and the
// run's objective, noise, batch and LR as extra columns. The analysis stage
// reads files only: summary.json, never tensors.
#pragma once

#include <string>
#include <vector>

#include "points.h"

namespace scalebed::analysis {

// `path` is a run directory or a directory holding run directories (a
// sweep's output). convention: 6nd | palm | md (summary.json's flops.*).
// Unfinished runs are skipped and counted in `skipped`.
std::vector<Point> read_run_directories(const std::string& path, const std::string& convention,
                                        int* skipped = nullptr);

}  // namespace scalebed::analysis
