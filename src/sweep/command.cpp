// The sweep scheduler's flags and what each prints.
#include "sweep/command.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <limits>
#include <map>
#include <ostream>
#include <sstream>

#include "distributed/launcher.h"
#include "sweep/collect.h"
#include "sweep/registry.h"
#include "sweep/slurm.h"
#include "util/error.h"
#include "util/exit_codes.h"
#include "util/fs.h"
#include "util/parse.h"

namespace scalebed {
namespace fs = std::filesystem;

const char* kSweepUsage =
    R"(sweeps (a config file with `grid` or `zip`; see sweeps/quickstart.yaml):
  trainer --config SWEEP.yaml [--set K=V ...]   run every pending point locally, --jobs K at a time
          --list                  the points: index, status, name, swept and derived values
          --status                done / running / failed / pending, why failures failed,
                                  total and remaining FLOPs
          --index I               run point I (resume it, or nothing if done); Slurm array
                                  tasks may give SLURM_ARRAY_TASK_ID instead
          --claim-next [--wait]   work through pending points, claiming each by a lock file
                                  (N workers for M points; a point never runs twice at once);
                                  --wait: stay while others run, to take over a dead worker's point
          --slurm [--claim-workers N] [--slurm-out FILE]
                                  write an sbatch script: an array over the pending points
                                  (or N claiming workers), checkpoint + requeue before timeout
          --collect [--out FILE.csv]
                                  one row per point (swept values + summary.json) as CSV and
                                  JSONL (default <out_dir>/collected.csv / .jsonl)
          --jobs K                local runs at a time (default: one per GPU, 1 on CPU)
          --retry-failed          also run points that failed before
)";

namespace {

int parse_int(const std::string& flag, const std::string& text) {
  const auto v = parse_integer(text);
  if (!v || *v < 0 || *v > std::numeric_limits<int>::max()) {
    throw UsageError(flag + ": expected a non-negative integer below 2^31, got '" + text + "'");
  }
  return static_cast<int>(*v);
}

std::string human_flops(double f) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.3g", f);
  return buf;
}

void print_list(const SweepSpec& spec, const std::vector<SweepPoint>& points, std::ostream& out) {
  out << "sweep " << spec.stem << ": " << points.size() << " points in " << spec.out_dir << "\n";
  for (const auto& p : points) {
    const PointStatus s = point_status(spec, p);
    char head[64];
    std::snprintf(head, sizeof head, "%4d  %-8s ", p.index, to_string(s.state));
    out << head << p.name << " ";
    for (const auto& [k, v] : p.values) out << " " << k << "=" << v;
    out << "  steps=" << p.config.train.steps << " flops_md=" << human_flops(p.planned_flops_md)
        << "\n";
  }
}

void print_status(const SweepSpec& spec, const std::vector<SweepPoint>& points, std::ostream& out) {
  std::map<PointState, int> counts;
  double total = 0, remaining = 0;
  std::vector<std::string> failed, running, resumable;
  for (const auto& p : points) {
    const PointStatus s = point_status(spec, p);
    counts[s.state]++;
    total += p.planned_flops_md;
    if (s.state != PointState::kDone) remaining += p.planned_flops_md;
    const std::string id = "  " + std::to_string(p.index) + " " + p.name + ": ";
    if (s.state == PointState::kFailed) failed.push_back(id + s.detail);
    if (s.state == PointState::kRunning) running.push_back(id + s.detail);
    if (s.state == PointState::kPending && !s.detail.empty()) resumable.push_back(id + s.detail);
  }
  out << "sweep " << spec.stem << " (" << spec.out_dir << "): " << points.size() << " points\n"
      << "  done " << counts[PointState::kDone] << " | running " << counts[PointState::kRunning]
      << " | failed " << counts[PointState::kFailed] << " | pending "
      << counts[PointState::kPending] << "\n"
      << "  FLOPs (M = 72Ld^2 + 12LdT per token): total " << human_flops(total) << ", remaining "
      << human_flops(remaining) << " ("
      << (total > 0 ? static_cast<int>(100 * remaining / total) : 0) << "%)\n";
  if (!running.empty()) out << "running:\n";
  for (const auto& l : running) out << l << "\n";
  if (!failed.empty()) out << "failed (rerun with --retry-failed):\n";
  for (const auto& l : failed) out << l << "\n";
  if (!resumable.empty()) out << "pending with a checkpoint:\n";
  for (const auto& l : resumable) out << l << "\n";
}

}  // namespace

int sweep_command(const std::string& sweep_file, const std::vector<std::string>& args,
                  const SweepHooks& hooks, std::ostream& out) {
  std::string mode, expected_hash, collect_out, slurm_out;
  std::vector<std::string> overrides;
  int index = -1, jobs = -1, claim_workers = 0;
  bool retry_failed = false, train_only = false, wait = false;
  auto set_mode = [&](const std::string& m) {
    if (!mode.empty() && mode != m) throw UsageError(m + " cannot be combined with " + mode);
    mode = m;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= args.size()) throw UsageError(a + ": needs a value");
      return args[++i];
    };
    if (a == "--help" || a == "-h") {
      out << kSweepUsage;
      return kExitOk;
    } else if (a == "--list" || a == "--dry-run") {
      set_mode("--list");
    } else if (a == "--status" || a == "--claim-next" || a == "--slurm" || a == "--collect") {
      set_mode(a);
    } else if (a == "--index") {
      set_mode(a);
      index = parse_int(a, value());
    } else if (a == "--jobs") {
      jobs = parse_int(a, value());
      if (jobs < 1) throw UsageError("--jobs: must be >= 1");
    } else if (a == "--claim-workers") {
      claim_workers = parse_int(a, value());
      if (claim_workers < 1) throw UsageError("--claim-workers: must be >= 1");
    } else if (a == "--slurm-out") {
      slurm_out = value();
    } else if (a == "--out") {
      collect_out = value();
    } else if (a == "--retry-failed") {
      retry_failed = true;
    } else if (a == "--wait") {
      wait = true;
    } else if (a == "--train-only") {  // a rank of a multi-GPU point: its launcher holds the lock
      train_only = true;
    } else if (a == "--sweep-hash") {
      expected_hash = value();
    } else if (a == "--set") {
      overrides.push_back(value());
    } else if (a.rfind("--set=", 0) == 0) {
      overrides.push_back(a.substr(6));
    } else {
      throw UsageError("unknown argument '" + a + "' for a sweep file (see trainer --help)");
    }
  }
  if (claim_workers > 0 && mode != "--slurm") throw UsageError("--claim-workers goes with --slurm");
  if (!slurm_out.empty() && mode != "--slurm") throw UsageError("--slurm-out goes with --slurm");
  if (!collect_out.empty() && mode != "--collect") throw UsageError("--out goes with --collect");
  if (mode.empty()) {
    if (const char* task = std::getenv("SLURM_ARRAY_TASK_ID")) {
      mode = "--index";
      index = parse_int("SLURM_ARRAY_TASK_ID", task);
    }
  }

  SweepSpec spec = load_sweep(sweep_file);
  // out_dir and name are the sweep's own (out_dir, run_name), not a point's
  // config: --set out_dir moves the whole sweep, --set name is refused (it
  // was silently ignored).
  std::vector<std::string> point_overrides;
  for (const auto& o : overrides) {
    if (o.rfind("out_dir=", 0) == 0) {
      spec.out_dir = o.substr(8);
      if (spec.out_dir.empty()) throw UsageError("--set out_dir= needs a directory");
    } else if (o.rfind("name=", 0) == 0) {
      throw UsageError("--set name: a sweep names its points (run_name in " + sweep_file + ")");
    } else {
      point_overrides.push_back(o);
    }
  }
  apply_overrides(spec.fixed, point_overrides);
  const std::vector<SweepPoint> points = expand_sweep(spec);
  const std::string hash = sweep_hash(points);
  if (!expected_hash.empty() && expected_hash != hash) {
    fail_at(sweep_file, "the sweep changed since its job was written (expansion ", hash,
            ", the job expects ", expected_hash,
            "); indices may point at other runs now: write the job again with --slurm");
  }

  // A point on several GPUs: the process that claims it starts its ranks
  // (`--train-only` copies of this command, one per GPU; Slurm tasks by srun
  // inside a Slurm job) and waits for them, holding the point's lock.
  const int ranks = spec.scheduler.gpus_per_run;
  const TrainFn train = ranks <= 1 ? hooks.train : TrainFn([&](const RunConfig& config) {
    int point = 0;
    while (points[point].name != config.name) ++point;
    std::vector<std::string> rank_args = {"--config",     fs::absolute(sweep_file).string(),
                                          "--index",      std::to_string(point),
                                          "--sweep-hash", hash,
                                          "--train-only"};
    for (const auto& o : overrides) rank_args.insert(rank_args.end(), {"--set", o});
    // In a Slurm job the ranks are Slurm tasks (srun); elsewhere, local processes.
    if (std::getenv("SLURM_JOB_ID"))
      return launch_slurm_ranks(hooks.trainer, rank_args, ranks, out);
    return launch_local_ranks(hooks.trainer, rank_args, ranks, out);
  });

  if (mode == "--list") {
    print_list(spec, points, out);
    return kExitOk;
  }
  if (mode == "--status") {
    print_status(spec, points, out);
    return kExitOk;
  }
  if (mode == "--index") {
    if (index < 0 || index >= static_cast<int>(points.size())) {
      throw UsageError("--index " + std::to_string(index) + ": the sweep has points 0-" +
                       std::to_string(points.size() - 1));
    }
    if (train_only) return hooks.train(points[index].config);
    return run_point(spec, points[index], train, retry_failed, out);
  }
  if (wait && mode != "--claim-next") throw UsageError("--wait goes with --claim-next");
  if (mode == "--claim-next") {
    return claim_points(spec, points, train, retry_failed, out, wait, hooks.stop_requested);
  }
  if (mode == "--collect") {
    const std::string csv = collect_out.empty() ? spec.out_dir + "/collected.csv" : collect_out;
    const std::string jsonl = fs::path(csv).replace_extension(".jsonl").string();
    const CollectResult r = collect_sweep(spec, points, csv, jsonl);
    out << "collected " << r.rows << " points (" << r.done << " done) into " << csv << " and "
        << jsonl << "\n";
    return kExitOk;
  }

  std::vector<std::string> child_args = {"--config", fs::absolute(sweep_file).string()};
  for (const auto& o : overrides) {
    child_args.push_back("--set");
    child_args.push_back(o);
  }
  child_args.push_back("--sweep-hash");
  child_args.push_back(hash);

  if (mode == "--slurm") {
    SlurmJob job;
    job.trainer = fs::absolute(hooks.trainer).string();
    job.sweep_file = fs::absolute(sweep_file).string();
    job.workdir = fs::current_path().string();
    job.overrides = overrides;
    job.claim_workers = claim_workers;
    job.max_parallel = jobs > 0 ? jobs : spec.slurm.max_parallel;
    job.retry_failed = retry_failed;
    job.sweep_hash = hash;
    for (const auto& p : points) {
      const PointState s = point_status(spec, p).state;
      if (s == PointState::kPending || s == PointState::kRunning ||
          (s == PointState::kFailed && retry_failed)) {
        job.indices.push_back(p.index);
        job.uses_gpu = job.uses_gpu || p.config.device != "cpu";
        job.threads = std::max(job.threads, static_cast<int>(p.config.threads));
      }
    }
    if (job.indices.empty()) {
      out << "nothing to submit: every point is done" << (retry_failed ? "" : " or failed") << "\n";
      return kExitOk;
    }
    const std::string path =
        slurm_out.empty() ? sweep_state_dir(spec) + "/slurm/" + spec.stem + ".sbatch" : slurm_out;
    fs::create_directories(sweep_state_dir(spec) + "/slurm");
    if (fs::path(path).has_parent_path()) fs::create_directories(fs::path(path).parent_path());
    write_file_atomic(path, sbatch_script(spec, job));
    fs::permissions(path, fs::perms::owner_exec | fs::perms::group_exec, fs::perm_options::add);
    out << "wrote " << path << ": "
        << (claim_workers > 0 ? std::to_string(claim_workers) + " claiming workers"
                              : std::to_string(job.indices.size()) + " array tasks")
        << " for " << job.indices.size() << " pending point(s)\nsubmit with: sbatch " << path
        << "\n";
    return kExitOk;
  }

  LocalRunOptions local;
  local.gpus = hooks.gpus;
  local.gpus_per_run = spec.scheduler.gpus_per_run;
  local.jobs = jobs > 0                  ? jobs
               : spec.scheduler.jobs > 0 ? spec.scheduler.jobs
                                         : std::max(1, hooks.gpus / local.gpus_per_run);
  local.retry_failed = retry_failed;
  local.trainer = hooks.trainer;
  local.child_args = child_args;
  return run_local(spec, points, local, out);
}

}  // namespace scalebed
