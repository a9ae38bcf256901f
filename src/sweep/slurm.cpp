// Writing the sbatch script of a sweep.
#include "sweep/slurm.h"

#include <algorithm>
#include <sstream>

#include "sweep/registry.h"
#include "util/error.h"

namespace scalebed {
namespace {

// Single-quotes a word for bash.
std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// An #SBATCH option's value: as it is, or double-quoted when it holds
// spaces (sbatch reads quoted values on #SBATCH lines).
std::string sbatch_value(const std::string& s) {
  if (s.find('"') != std::string::npos) {
    fail_at(s, "a double quote cannot be written into an #SBATCH line; rename the path");
  }
  return s.find_first_of(" \t") == std::string::npos ? s : "\"" + s + "\"";
}

}  // namespace

std::string compress_ranges(const std::vector<int>& indices) {
  std::string out;
  for (size_t i = 0; i < indices.size();) {
    size_t j = i;
    while (j + 1 < indices.size() && indices[j + 1] == indices[j] + 1) ++j;
    out += (out.empty() ? "" : ",") + std::to_string(indices[i]);
    if (j > i) out += "-" + std::to_string(indices[j]);
    i = j + 1;
  }
  return out;
}

std::string sbatch_script(const SweepSpec& spec, const SlurmJob& job) {
  const SlurmOptions& s = spec.slurm;
  std::vector<int> tasks = job.indices;
  if (job.claim_workers > 0) {
    tasks.clear();
    for (int w = 0; w < job.claim_workers; ++w) tasks.push_back(w);
  }
  // Slurm opens the log before the script's `cd`: give it an absolute path.
  std::string logs = sweep_state_dir(spec) + "/slurm";
  if (!logs.empty() && logs[0] != '/') logs = job.workdir + "/" + logs;
  // What to ask for: slurm.* when given, else what the points use. A
  // multi-GPU point (scheduler.gpus_per_run) gets its GPUs on one node: the
  // batch step (trainer --index) claims the point and starts its ranks with
  // srun, one task per GPU. CPU points ask for no GPU, and for their
  // `threads` (1 when unset: small models run fastest on one thread).
  const int gpus_for_points = job.uses_gpu ? std::max(1, spec.scheduler.gpus_per_run) : 0;
  const int multi = spec.scheduler.gpus_per_run > 1 ? spec.scheduler.gpus_per_run : 0;
  const int gpus = s.gpus_per_task >= 0 ? std::max(s.gpus_per_task, multi) : gpus_for_points;
  const int cpus = s.cpus_per_task > 0 ? s.cpus_per_task
                   : job.threads > 0   ? job.threads
                   : job.uses_gpu      ? 8
                                       : 1;
  std::ostringstream o;
  o << "#!/bin/bash\n"
    << "# Sweep " << spec.stem << " (" << job.sweep_file << ", expansion " << job.sweep_hash
    << "): "
    << (job.claim_workers > 0 ? std::to_string(job.claim_workers) + " --claim-next workers"
                              : std::to_string(tasks.size()) + " points, one per task")
    << ".\n# Written by `trainer --config ... --slurm`; submit with `sbatch THIS_FILE`.\n"
    << "#SBATCH --job-name=" << sbatch_value(spec.stem) << "\n"
    << "#SBATCH --array=" << compress_ranges(tasks)
    << (job.max_parallel > 0 ? "%" + std::to_string(job.max_parallel) : "") << "\n"
    << "#SBATCH --output=" << sbatch_value(logs + "/%A_%a.out") << "\n"
    << "#SBATCH --open-mode=append\n"
    << "#SBATCH --chdir=" << sbatch_value(job.workdir) << "\n"
    << "#SBATCH --signal=B:USR1@" << s.signal_s << "\n"
    << "#SBATCH --requeue\n"
    << "#SBATCH --time=" << s.time << "\n"
    << "#SBATCH --ntasks=" << std::max(1, spec.scheduler.gpus_per_run) << "\n"
    << "#SBATCH --cpus-per-task=" << cpus << "\n";
  if (spec.scheduler.gpus_per_run > 1) o << "#SBATCH --nodes=1\n";
  if (gpus > 0) o << "#SBATCH --gres=gpu:" << gpus << "\n";
  if (!s.partition.empty()) o << "#SBATCH --partition=" << s.partition << "\n";
  if (!s.account.empty()) o << "#SBATCH --account=" << s.account << "\n";
  if (!s.qos.empty()) o << "#SBATCH --qos=" << s.qos << "\n";
  if (!s.mem.empty()) o << "#SBATCH --mem=" << s.mem << "\n";
  if (!s.constraint.empty()) o << "#SBATCH --constraint=" << s.constraint << "\n";
  for (const auto& extra : s.extra_sbatch) o << "#SBATCH " << extra << "\n";
  o << "\nset -u\ncd " << quote(job.workdir) << "\n";
  for (const auto& line : s.setup) o << line << "\n";
  o << "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n\n";

  o << "args=(--config " << quote(job.sweep_file) << " --sweep-hash " << job.sweep_hash;
  for (const auto& set : job.overrides) o << " --set " << quote(set);
  if (job.claim_workers > 0) {
    o << " --claim-next";
  } else {
    o << " --index \"$SLURM_ARRAY_TASK_ID\"";
  }
  if (job.retry_failed) o << " --retry-failed";
  o << ")\n"
    << "# The trainer runs in the background so that this shell can pass Slurm's\n"
    << "# SIGUSR1 (sent before the time limit) on: the trainer checkpoints and exits 75.\n"
    << quote(job.trainer) << " \"${args[@]}\" &\n"
    << "child=$!\n"
    << "trap 'kill -USR1 \"$child\" 2>/dev/null' USR1 TERM\n"
    << "wait \"$child\"; rc=$?\n"
    << "while kill -0 \"$child\" 2>/dev/null; do wait \"$child\"; rc=$?; done\n"
    << "if [ \"$rc\" -eq 75 ]; then\n"
    << "  # Stopped before the time limit after checkpointing: requeue this task only.\n"
    << "  scontrol requeue \"${SLURM_ARRAY_JOB_ID}_${SLURM_ARRAY_TASK_ID}\"\n"
    << "fi\n"
    << "exit \"$rc\"\n";
  return o.str();
}

}  // namespace scalebed
