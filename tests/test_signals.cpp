// The stop-signal record (util/signals.h), each case in a forked child so
// that signals and handlers stay out of the test runner: what the installed
// handlers record (restarting interrupted calls), that a second Ctrl-C ends a training process
// (exit 130) but not a supervisor holding StopSignals, and that StopSignals hands the previous
// handlers back.
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
// Whether the handler now installed for `sig` restarts interrupted calls.
bool restarts(int sig) {
  struct sigaction current {};
  sigaction(sig, nullptr, &current);
  return (current.sa_flags & SA_RESTART) != 0;
}

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
              // A checkpoint write or c10d read goes on after a signal (as under std::signal).
              if (!restarts(SIGINT) || !restarts(SIGTERM) || !restarts(SIGUSR1)) return 4;
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
                if (!restarts(SIGTERM)) return 4;
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
