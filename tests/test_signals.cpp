// The stop-signal record (util/signals.h), each case in a forked child so
// that signals and handlers stay out of the test runner: what the installed
// handlers record, that a second Ctrl-C ends a training process (exit 130)
// but not a supervisor holding StopSignals, and that StopSignals hands the
// previous handlers back.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <functional>

#include "util/signals.h"

namespace scalebed {
namespace {

// Runs `body` in a child; returns its exit status (or 128 + the signal that
// killed it). The child reports failed checks through its exit code.
int in_child(const std::function<int()>& body) {
  const pid_t pid = fork();
  if (pid == 0) _exit(body());
  int status = 0;
  waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(StopSignals, InstalledHandlersRecordTheLastSignal) {
  EXPECT_EQ(in_child([] {
              install_stop_signal_handlers();
              if (stop_signal() != 0) return 1;
              raise(SIGTERM);
              if (stop_signal() != SIGTERM) return 2;
              raise(SIGUSR1);
              if (stop_signal() != SIGUSR1) return 3;
              return 0;
            }),
            0);
}

TEST(StopSignals, SecondInterruptEndsATrainingProcessAt130) {
  EXPECT_EQ(in_child([] {
              install_stop_signal_handlers();
              raise(SIGINT);
              if (stop_signal() != SIGINT) return 1;  // the first one only asks to stop
              raise(SIGINT);
              return 2;  // not reached
            }),
            130);
}

TEST(StopSignals, ScopedRecorderKeepsASupervisorAliveAndRestoresHandlers) {
  EXPECT_EQ(in_child([] {
              install_stop_signal_handlers();
              {
                StopSignals signals;
                raise(SIGINT);
                raise(SIGINT);  // the children are stopping: the supervisor stays
                if (signals.take() != SIGINT || signals.pending() != 0) return 1;
                raise(SIGTERM);
                if (signals.pending() != SIGTERM) return 2;
              }
              raise(SIGINT);  // the process-wide behaviour is back: SIGTERM, then
              raise(SIGINT);  // two interrupts: exits 130
              return 3;
            }),
            130);
  // Without handlers installed before, the default action comes back.
  EXPECT_EQ(in_child([] {
              { StopSignals signals; }
              raise(SIGTERM);
              return 1;
            }),
            128 + SIGTERM);
}

}  // namespace
}  // namespace scalebed
