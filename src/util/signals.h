// Catching the stop signals (SIGINT, SIGTERM, SIGUSR1) in a process that
// supervises others (the local launcher, the local sweep runner): while a
// StopSignals lives, those signals are recorded instead of ending the
// process; the previous handlers come back when it goes. One at a time.
#pragma once

namespace scalebed {

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
