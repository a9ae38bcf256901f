// Running a sweep's points: one by index, a worker claiming points, or all
// pending points locally K at a time (child processes, one GPU each).
//
// The scheduler knows runs as configs and directories, never as models: it
// trains through a TrainFn that the command line supplies.
#pragma once

#include <functional>
#include <iosfwd>
#include <string>
#include <vector>

#include "sweep/sweep.h"

namespace scalebed {

// Trains one run to completion (or resumes it); returns an ExitCode.
using TrainFn = std::function<int(const RunConfig&)>;

// Runs point `point` under its lock: nothing when done or held by a live
// worker; a failed point only with retry_failed. Returns an ExitCode.
int run_point(const SweepSpec& spec, const SweepPoint& point, const TrainFn& train,
              bool retry_failed, std::ostream& out);

// --claim-next: claims pending points one at a time until none is left to
// claim. Stops at once (returning 75) when a run is interrupted by a signal.
// wait: while other workers hold points, keep polling (every heartbeat) so
// that a point whose worker died elsewhere is taken over once its lock goes
// stale; stop_requested ends the wait (returning 75).
int claim_points(const SweepSpec& spec, const std::vector<SweepPoint>& points, const TrainFn& train,
                 bool retry_failed, std::ostream& out, bool wait = false,
                 const std::function<bool()>& stop_requested = {});

struct LocalRunOptions {
  int jobs = 1;
  int gpus = 0;          // > 0: CUDA_VISIBLE_DEVICES per job slot
  int gpus_per_run = 1;  // devices per slot (the run's data-parallel ranks)
  bool retry_failed = false;
  std::string trainer;                  // this executable
  std::vector<std::string> child_args;  // --config SWEEP [--set ...] --sweep-hash H
};

// CUDA_VISIBLE_DEVICES of local job slot `slot`: slot s owns devices
// s·g … s·g + g − 1 (g = gpus_per_run), modulo the GPUs there are.
std::string devices_of_slot(int slot, int gpus_per_run, int gpus);

// Runs every pending point, `jobs` at a time, as `trainer ... --index I`
// children (output in <out_dir>/.sweep/logs/NAME.out), with a progress line.
// SIGINT/SIGTERM are passed on (children checkpoint) and it returns 75.
int run_local(const SweepSpec& spec, const std::vector<SweepPoint>& points,
              const LocalRunOptions& options, std::ostream& out);

}  // namespace scalebed
