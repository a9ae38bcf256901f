// The built-in local launcher: `trainer --nproc-per-node K ARGS...` starts K
// ranks of `trainer ARGS...` on this machine with torchrun's variables
// (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT on a free port),
// passes SIGINT/SIGTERM/SIGUSR1 on to them (each rank in its own process
// group, so a terminal's Ctrl-C reaches them once, through the launcher: one
// clean stop, exit 75), and when one rank fails stops
// the others (SIGTERM, then SIGKILL after a grace period) instead of letting
// them wait on it. No LibTorch here.
#pragma once

#include <iosfwd>
#include <string>
#include <vector>

namespace scalebed {

// A TCP port on 127.0.0.1 that is free right now (for a local rendezvous).
int free_local_port();

// Returns the job's exit code: the first failing rank's code, else 75 when
// the ranks stopped for a signal, else 0.
int launch_local_ranks(const std::string& trainer, const std::vector<std::string>& args, int nproc,
                       std::ostream& out, double grace_s = 30);

// In a rank started by launch_local_ranks (SCALEBED_LAUNCHER_PID set): ask the
// kernel for SIGTERM when the launcher dies, so that no rank trains on as an
// orphan after a SIGKILL of the launcher (it checkpoints and exits 75), and
// exit at once when the launcher is already gone. Does nothing otherwise.
void stop_with_launcher();

// Inside a Slurm allocation: `srun --ntasks=K --kill-on-bad-exit=1 trainer
// ARGS...`; each task finds its rank in SLURM_PROCID/SLURM_NTASKS/SLURM_LOCALID
// and the rendezvous host in SLURM_JOB_NODELIST. Signals are passed on to
// srun (which passes them to the tasks). Returns srun's exit code.
int launch_slurm_ranks(const std::string& trainer, const std::vector<std::string>& args, int nproc,
                       std::ostream& out);

}  // namespace scalebed
