// The sbatch script of a sweep: a job array over its points (or over N
// claiming workers), with per-task logs, SIGUSR1 before the time limit so the
// trainer checkpoints, and a requeue of just that task when it was stopped.
#pragma once

#include <string>
#include <vector>

#include "sweep/sweep.h"

namespace scalebed {

struct SlurmJob {
  std::string trainer;                 // absolute path of the trainer executable
  std::string sweep_file;              // absolute path
  std::string workdir;                 // where relative paths (out_dir, data) resolve
  std::vector<std::string> overrides;  // --set values passed through
  std::vector<int> indices;            // index mode: the points to run
  int claim_workers = 0;               // > 0: that many --claim-next workers instead
  int max_parallel = 0;                // the %K of --array; 0 = none
  bool retry_failed = false;
  std::string sweep_hash;
  // What the points ask for, when slurm.gpus_per_task / cpus_per_task leave
  // it open: GPUs when any point's device is not cpu, and its `threads`.
  bool uses_gpu = false;
  int threads = 0;  // the most any point sets; 0 = none set
};

// "0-3,5,8-9"
std::string compress_ranges(const std::vector<int>& indices);

std::string sbatch_script(const SweepSpec& spec, const SlurmJob& job);

}  // namespace scalebed
