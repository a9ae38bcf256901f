// `trainer --config SWEEP.yaml [flags]`: the sweep scheduler's command line.
// Public header of sweep/ for cli/: the flags, their help text, and dispatch
// to listing, status, running (one index, claiming, local), Slurm and collect.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "sweep/runner.h"

namespace scalebed {

struct SweepHooks {
  TrainFn train;                         // trains one run in this process
  std::string trainer;                   // this executable, for child processes and sbatch
  int gpus = 0;                          // visible CUDA devices
  std::function<bool()> stop_requested;  // a stop signal arrived (SIGTERM/SIGUSR1/SIGINT)
};

extern const char* kSweepUsage;

// `args` are the command-line arguments after --config FILE. Returns an
// ExitCode; throws UsageError for a bad command line and Error for bad files.
int sweep_command(const std::string& sweep_file, const std::vector<std::string>& args,
                  const SweepHooks& hooks, std::ostream& out);

}  // namespace scalebed
