// The process-wide record of a lost claim (util/claim.h).
#include "util/claim.h"

#include <atomic>
#include <mutex>

namespace scalebed {
namespace {
std::atomic<bool> g_lost{false};
std::mutex g_mutex;
std::string g_why;
std::function<std::optional<std::string>()> g_verify;
}  // namespace

void mark_claim_lost(const std::string& why) {
  std::lock_guard<std::mutex> lock(g_mutex);
  if (g_lost.load()) return;
  g_why = why;
  g_lost.store(true);
}

std::optional<std::string> claim_lost() {
  if (!g_lost.load()) return std::nullopt;  // the common case: one atomic load
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_why;
}

void set_claim_verifier(std::function<std::optional<std::string>()> verify) {
  std::lock_guard<std::mutex> lock(g_mutex);
  g_verify = std::move(verify);
}

void check_claim(const std::string& what) {
  std::function<std::optional<std::string>()> verify;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    verify = g_verify;
  }
  if (verify) {
    if (auto why = verify()) mark_claim_lost(*why);
  }
  if (auto why = claim_lost()) throw ClaimLostError("stopped before " + what + ": " + *why);
}

}  // namespace scalebed
