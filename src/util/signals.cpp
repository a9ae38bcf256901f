// Recording stop signals for supervising processes.
#include "util/signals.h"

#include <csignal>

namespace scalebed {
namespace {

volatile std::sig_atomic_t g_signal = 0;
extern "C" void record_signal(int sig) {
  g_signal = sig;
}

constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGUSR1};
struct sigaction g_previous[3];

}  // namespace

StopSignals::StopSignals() {
  struct sigaction sa {};
  sa.sa_handler = record_signal;
  sigemptyset(&sa.sa_mask);
  g_signal = 0;
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &sa, &g_previous[i]);
}

StopSignals::~StopSignals() {
  for (int i = 0; i < 3; ++i) sigaction(kSignals[i], &g_previous[i], nullptr);
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
