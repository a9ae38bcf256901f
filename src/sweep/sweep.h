// Sweep files: one YAML file describes hundreds of runs.
//
//   base: ../configs/ladder/base.yaml     # run-config layers every point starts from
//   out_dir: runs/quickstart              # default runs/<file stem>
//   run_name: "{preset}_{objective.kind}_C{budget}"   # optional; a short hash is appended
//   config:   {train.eval_every: 0}       # fixed keys on top of the layers
//   grid:     {preset: [../configs/ladder/L2-D64.yaml, ...], budget: [1e12, 3e12]}
//   zip:      [{objective.noise: [masked, uniform], optim.lr: [0.5, 0.25]}]
//   derive:   {train.steps: "floor(budget / flops_per_token_md / (train.batch_size *
//   model.context))"} exclude:  [{objective.kind: ar, objective.noise: uniform}, "train.steps <
//   10"] scheduler: {jobs: 2, heartbeat_s: 30, stale_after_s: 600} slurm:    {partition: gpu, time:
//   "04:00:00", gpus_per_task: 1, max_parallel: 8}
//
// A grid or zip key is a config key (model.d_model), `preset` (a run-config
// file layered under the point, named by its stem), or a sweep variable
// (budget) that derive, exclude or run_name reads. Points are the cartesian
// product of the grid (first key slowest) and of each zip group, minus the
// excluded ones; each is validated as a run config. Errors name file:line and key.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "sweep/expression.h"

namespace scalebed {

struct SweepAxis {
  std::string key;
  std::vector<ConfigValue> values;  // text and file:line of each listed value
};

struct DerivedValue {
  std::string key;
  Expression expression;
  std::string location;
};

struct ExcludeRule {
  std::string location;
  std::vector<SweepAxis> match;  // all keys must match one of their values, or
  std::vector<Expression> when;  // (one) expression that is true
};

struct SchedulerOptions {
  int jobs = 0;                // local parallel runs; 0 = one per gpus_per_run GPUs, or 1 on CPU
  int gpus_per_run = 1;        // > 1: each point trains data-parallel on that many GPUs (ranks)
  double heartbeat_s = 30;     // a running point refreshes its lock this often
  double stale_after_s = 600;  // a lock older than this is taken over
};

struct SlurmOptions {
  std::string partition, account, qos, time = "24:00:00", mem, constraint;
  // -1 / 0: derived from the points' device and threads (SlurmJob).
  int gpus_per_task = -1, cpus_per_task = 0, max_parallel = 0;  // 0 = no % limit
  int signal_s = 300;  // SIGUSR1 this long before the time limit: checkpoint and requeue
  std::vector<std::string> extra_sbatch;  // verbatim "#SBATCH ..." options
  std::vector<std::string> setup;         // shell lines run before the trainer
};

struct SweepSpec {
  std::string path;  // the sweep file
  std::string stem;  // its name without directory and extension
  std::string out_dir;
  std::vector<std::string> base_files;  // resolved paths
  FlatConfig fixed;
  std::vector<SweepAxis> grid;
  std::vector<std::vector<SweepAxis>> zips;
  std::vector<DerivedValue> derive;
  std::vector<ExcludeRule> exclude;
  std::string run_name, run_name_location;
  SchedulerOptions scheduler;
  SlurmOptions slurm;
};

struct SweepPoint {
  int index = 0;
  std::string name;  // directory name: readable part + '-' + hash
  std::string hash;
  // Every swept and derived value, in file order: (key, text). `preset`
  // appears as its file stem.
  std::vector<std::pair<std::string, std::string>> values;
  RunConfig config;             // validated; config.run_dir() is the point's directory
  double planned_flops_md = 0;  // tokens x M, for progress and --status
  std::string dir() const { return config.run_dir(); }
};

// True when the YAML file at `path` is a sweep (has `grid` or `zip`).
bool is_sweep_file(const std::string& path);

SweepSpec load_sweep(const std::string& path);
std::vector<SweepPoint> expand_sweep(const SweepSpec& spec);

// Short hash (10 hex digits) of what a run computes: the resolved config's
// non-default values, without name, out_dir and threads. Keys added to the
// schema later with a default keep old hashes.
std::string config_hash(const RunConfig& config);

// A hash of the whole expansion (every point's name in order): the Slurm
// script records it so that a task never runs an index of an edited sweep.
std::string sweep_hash(const std::vector<SweepPoint>& points);

}  // namespace scalebed
