// `trainer --config SWEEP.yaml [flags]`: the sweep scheduler's command line.
// Public header of sweep/ for cli/: the flags, their help text, and dispatch
// to listing, status, running (one index, claiming, local), Slurm and collect.
#pragma once

#include <functional>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "sweep/runner.h"

namespace CLI {
class App;
class Option;
}  // namespace CLI

namespace scalebed {

struct SweepHooks {
  TrainFn train;                         // trains one run in this process
  std::string trainer;                   // this executable, for child processes and sbatch
  int gpus = 0;                          // visible CUDA devices
  std::function<bool()> stop_requested;  // a stop signal arrived (SIGTERM/SIGUSR1/SIGINT)
};

// The sweep flags of one command line.
struct SweepArgs {
  bool list = false, status = false, claim_next = false, slurm = false, collect = false;
  std::optional<int> index;  // --index I (or SLURM_ARRAY_TASK_ID when no mode is given)
  int jobs = 0, claim_workers = 0;
  std::string slurm_out, collect_out;
  bool retry_failed = false, wait = false;
  bool train_only = false;             // a rank of a multi-GPU point: its launcher holds the lock
  std::string expected_hash;           // --sweep-hash: the expansion a job was written for
  std::vector<std::string> overrides;  // the command's --set K=V
};

// Adds the sweep flags to `app` under the help heading `group`; returns the
// options that only sweeps take (so that a run config can refuse them).
std::vector<CLI::Option*> add_sweep_options(CLI::App& app, SweepArgs& args,
                                            const std::string& group);

// Runs the sweep command. Returns an ExitCode; throws UsageError for a bad
// command line and Error for bad files.
int sweep_command(const std::string& sweep_file, const SweepArgs& args, const SweepHooks& hooks,
                  std::ostream& out);

}  // namespace scalebed
