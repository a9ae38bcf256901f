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
#include "util/cli.h"
#include "util/error.h"
#include "util/exit_codes.h"
#include "util/fs.h"
#include "util/parse.h"

namespace scalebed {
namespace fs = std::filesystem;

namespace {

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

std::vector<CLI::Option*> add_sweep_options(CLI::App& app, SweepArgs& a, const std::string& group) {
  constexpr int64_t kMaxInt = std::numeric_limits<int>::max();
  std::vector<CLI::Option*> only_sweeps = {
      app.add_flag("--list", a.list, "the points: index, status, name, swept and derived values"),
      app.add_flag("--status", a.status,
                   "done / running / failed / pending, why failures failed, total and\n"
                   "remaining FLOPs"),
      cli::add_integer(app, "--index", a.index, 0, kMaxInt,
                       "run point I (resume it, or nothing if done); Slurm array tasks may\n"
                       "give SLURM_ARRAY_TASK_ID instead")
          ->type_name("I"),
      app.add_flag("--claim-next", a.claim_next,
                   "work through pending points, claiming each by a lock file (N workers\n"
                   "for M points; a point never runs twice at once)"),
      app.add_flag("--wait", a.wait,
                   "with --claim-next: stay while others run, to take over a dead\n"
                   "worker's point"),
      app.add_flag("--slurm", a.slurm,
                   "write an sbatch script: an array over the pending points (or N\n"
                   "claiming workers), checkpoint + requeue before the time limit"),
      cli::add_integer(app, "--claim-workers", a.claim_workers, 1, kMaxInt,
                       "with --slurm: N claiming workers instead of an array")
          ->type_name("N"),
      app.add_option("--slurm-out", a.slurm_out, "with --slurm: where the script goes")
          ->type_name("FILE"),
      app.add_flag("--collect", a.collect,
                   "one row per point (swept values + summary.json) as CSV and JSONL\n"
                   "(default <out_dir>/collected.csv / .jsonl)"),
      app.add_option("--out", a.collect_out, "with --collect: the CSV file")->type_name("FILE.csv"),
      cli::add_integer(app, "--jobs", a.jobs, 1, kMaxInt,
                       "local runs at a time (default: one per GPU, 1 on CPU)")
          ->type_name("K"),
      app.add_flag("--retry-failed", a.retry_failed, "also run points that failed before"),
      // Written by the scheduler into its children's and Slurm's command lines.
      app.add_flag("--train-only", a.train_only, "")->group(""),
      app.add_option("--sweep-hash", a.expected_hash, "")->group("")};
  for (auto* option : only_sweeps) {
    if (!option->get_group().empty()) option->group(group);
  }
  return only_sweeps;
}

int sweep_command(const std::string& sweep_file, const SweepArgs& args, const SweepHooks& hooks,
                  std::ostream& out) {
  std::vector<std::string> modes;
  for (const auto& [given, name] :
       std::vector<std::pair<bool, std::string>>{{args.list, "--list"},
                                                 {args.status, "--status"},
                                                 {args.index.has_value(), "--index"},
                                                 {args.claim_next, "--claim-next"},
                                                 {args.slurm, "--slurm"},
                                                 {args.collect, "--collect"}}) {
    if (given) modes.push_back(name);
  }
  if (modes.size() > 1) throw UsageError(modes[1] + " cannot be combined with " + modes[0]);
  std::string mode = modes.empty() ? "" : modes[0];
  int index = args.index.value_or(-1);
  const std::vector<std::string>& overrides = args.overrides;
  const std::string& expected_hash = args.expected_hash;
  const int jobs = args.jobs, claim_workers = args.claim_workers;
  const bool retry_failed = args.retry_failed;
  if (claim_workers > 0 && mode != "--slurm") throw UsageError("--claim-workers goes with --slurm");
  if (!args.slurm_out.empty() && mode != "--slurm")
    throw UsageError("--slurm-out goes with --slurm");
  if (!args.collect_out.empty() && mode != "--collect")
    throw UsageError("--out goes with --collect");
  if (args.wait && mode != "--claim-next") throw UsageError("--wait goes with --claim-next");
  if (mode.empty()) {
    if (const char* task = std::getenv("SLURM_ARRAY_TASK_ID")) {
      mode = "--index";
      index = static_cast<int>(
          integer_flag("SLURM_ARRAY_TASK_ID", task, 0, std::numeric_limits<int>::max()));
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
    if (args.train_only) return hooks.train(points[index].config);
    return run_point(spec, points[index], train, retry_failed, out);
  }
  if (mode == "--claim-next") {
    return claim_points(spec, points, train, retry_failed, out, args.wait, hooks.stop_requested);
  }
  if (mode == "--collect") {
    const std::string csv =
        args.collect_out.empty() ? spec.out_dir + "/collected.csv" : args.collect_out;
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
    const std::string path = args.slurm_out.empty()
                                 ? sweep_state_dir(spec) + "/slurm/" + spec.stem + ".sbatch"
                                 : args.slurm_out;
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
