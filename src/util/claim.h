// Whether this process still holds the claim on the work it is doing. A sweep
// worker claims a point with a lock file whose heartbeat it refreshes; if the
// worker was frozen (SIGSTOP, a stalled node) past the stale limit, a worker
// on another host may have taken the point over. The heartbeat notices that
// the lock file is no longer its own and records it here; the trainer checks
// before every step and every write that matters, and stops without writing.
#pragma once

#include <functional>
#include <optional>
#include <string>

#include "util/error.h"

namespace scalebed {

// Thrown by the trainer when it finds the claim lost; whoever catches it
// writes nothing more for the point (another worker owns it now).
class ClaimLostError : public Error {
 public:
  using Error::Error;
};

// Records why the claim was lost (the first reason is kept).
void mark_claim_lost(const std::string& why);

// The reason, once the claim is lost; nullopt while it is held (or when no
// claim was ever made, as for a plain `trainer --config RUN.yaml`).
std::optional<std::string> claim_lost();

// Installs how to verify the claim now (the sweep's point lock: is the lock
// file still ours?), returning why it is lost or nullopt; an empty function
// removes it. The heartbeat only looks every heartbeat_s, so the writes that
// matter verify for themselves.
void set_claim_verifier(std::function<std::optional<std::string>()> verify);

// Before a write that matters (a metrics line, a checkpoint, DONE): throws
// ClaimLostError naming `what` when the claim is lost, as recorded or as the
// verifier finds it now. Does nothing when no claim was made.
void check_claim(const std::string& what);

}  // namespace scalebed
