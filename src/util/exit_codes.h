// Process exit codes of `trainer`, shared by the training loop and the sweep
// scheduler (which reads its children's codes and passes them to Slurm).
#pragma once

namespace scalebed {

// Process exit codes of `trainer`.
enum ExitCode : int {
  kExitOk = 0,           // finished (or was already done)
  kExitError = 1,        // bad input or an internal error; the message names the cause
  kExitUsage = 2,        // bad command line
  kExitNonFinite = 3,    // loss or gradients became NaN/Inf; last good checkpoint kept
  kExitInterrupted = 75  // SIGTERM/SIGUSR1/SIGINT: checkpointed, requeue to resume
};

}  // namespace scalebed
