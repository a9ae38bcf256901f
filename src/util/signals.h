// The stop signals (SIGINT, SIGTERM, SIGUSR1): one record of the last one
// received, for the whole process. A training process installs the handlers
// for good and checkpoints when one arrives (a second Ctrl-C exits at once);
// a process that supervises others (the local launcher, the local sweep
// runner) holds a StopSignals while its children run, so the signals are
// recorded and passed on instead of ending it.
#pragma once

namespace scalebed {

// From now on the stop signals are recorded; a second SIGINT exits with 130.
void install_stop_signal_handlers();
// The last stop signal received (0: none).
int stop_signal();

// Scoped: records the stop signals (a second SIGINT included) and restores
// the previous handlers when it goes. One at a time.
class StopSignals {
 public:
  StopSignals();
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  int pending() const;  // the last signal received (0: none), kept
  int take();           // the same, cleared
};

}  // namespace scalebed
