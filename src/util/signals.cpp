// Recording the stop signals: one handler, one record, two ways to install.
#include "util/signals.h"

#include <csignal>
#include <cstdlib>

namespace scalebed {
namespace {

volatile std::sig_atomic_t g_signal = 0;
volatile std::sig_atomic_t g_second_interrupt_exits = 0;

extern "C" void record_signal(int sig) {
  if (sig == SIGINT && g_second_interrupt_exits && g_signal == SIGINT) std::_Exit(130);
  g_signal = sig;
}

constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGUSR1};
struct sigaction g_previous[3];
std::sig_atomic_t g_previous_second_interrupt_exits = 0;

// SA_RESTART: a signal only leaves a record; the interrupted system call
// (a checkpoint write, a c10d socket read) goes on, as under std::signal.
// Supervisors poll the record every 50-100 ms, so they need no EINTR either.
void install_recorder(struct sigaction* previous) {
  struct sigaction sa {};
  sa.sa_handler = record_signal;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &sa, previous ? &previous[i] : nullptr);
}

}  // namespace

void install_stop_signal_handlers() {
  g_second_interrupt_exits = 1;
  install_recorder(nullptr);
}

int stop_signal() {
  return g_signal;
}

StopSignals::StopSignals() {
  g_previous_second_interrupt_exits = g_second_interrupt_exits;
  g_second_interrupt_exits = 0;
  g_signal = 0;
  install_recorder(g_previous);
}

StopSignals::~StopSignals() {
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &g_previous[i], nullptr);
  g_second_interrupt_exits = g_previous_second_interrupt_exits;
}

int StopSignals::pending() const {
  return g_signal;
}

int StopSignals::take() {
  const int sig = g_signal;
  g_signal = 0;
  return sig;
}

}  // namespace scalebed
