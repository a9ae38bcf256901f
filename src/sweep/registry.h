// The sweep's registry of its points: what state each is in, and the lock
// files that make sure no point runs twice at once.
//
// State comes from the run directory (run-directory.md) and the lock:
//   done     DONE exists
//   running  a lock whose heartbeat is fresh (and, on this host, whose process lives)
//   failed   summary.json says "failed" (reason from summary.json or log.txt)
//   pending  anything else; "resumable" when it has a complete checkpoint
// Locks live in <out_dir>/.sweep/locks/<name>.lock, created with O_EXCL and
// refreshed by a heartbeat; a stale one (no heartbeat for stale_after_s, or
// a dead process on this host) is taken over under a second O_EXCL guard.
// Every start and end of a point is appended to <out_dir>/.sweep/attempts.jsonl.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "sweep/sweep.h"

namespace scalebed {

enum class PointState { kPending, kRunning, kDone, kFailed };
const char* to_string(PointState s);

struct PointStatus {
  PointState state = PointState::kPending;
  std::string detail;  // failure reason, lock holder, or "resumable from step N"
};

std::string sweep_state_dir(const SweepSpec& spec);  // <out_dir>/.sweep
PointStatus point_status(const SweepSpec& spec, const SweepPoint& point);

// An exclusive claim on one point, held while it trains.
class PointLock {
 public:
  // Claims the point, taking over a stale lock; nullopt when another live
  // worker holds it (its owner in *holder).
  static std::unique_ptr<PointLock> try_acquire(const SweepSpec& spec, const SweepPoint& point,
                                                std::string* holder = nullptr);
  ~PointLock();  // stops the heartbeat and removes the lock file (if still ours)
  PointLock(const PointLock&) = delete;
  PointLock& operator=(const PointLock&) = delete;

 private:
  PointLock(std::string path, std::string nonce, double heartbeat_s);
  std::optional<std::string> taken_over() const;  // why the lock is no longer ours
  std::string path_, nonce_;
  std::atomic<bool> stop_{false};
  std::thread heartbeat_;
};

// Appends one line to <out_dir>/.sweep/attempts.jsonl (event: start | end).
void record_attempt(const SweepSpec& spec, const SweepPoint& point, const std::string& event,
                    int exit_code = 0);

// Marks a point failed in its run directory: summary.json gets status
// "failed" and the reason (keeping its other fields), log.txt a last line.
void mark_failed(const SweepPoint& point, const std::string& reason);

std::string hostname();

}  // namespace scalebed
