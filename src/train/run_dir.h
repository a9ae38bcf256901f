// The run directory (shared/spec/run-directory.md): the only thing that the
// trainer, the sweep scheduler and the analysis stage share.
//   config.yaml    resolved config        metrics.jsonl  one object per logged step
//   summary.json   written atomically     checkpoints/   complete checkpoints only
//   DONE           written last           log.txt        the console log
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace scalebed {

constexpr int kRunFormat = 1;

class RunDirectory {
 public:
  explicit RunDirectory(std::string path) : path_(std::move(path)) {}
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  std::string checkpoints_dir() const { return file("checkpoints"); }

  bool exists() const;
  bool is_done() const;
  void create() const;  // the directory and checkpoints/

  // The metrics file: appended line by line; its size is recorded in each
  // checkpoint so that a resumed run cuts off what came after it.
  void append_metrics(const nlohmann::json& line) const;
  int64_t metrics_bytes() const;
  void sync_metrics() const;  // fsync, before a checkpoint records its size
  // Cuts metrics.jsonl back to `bytes`; a file shorter than that is an error
  // (never padded).
  void truncate_metrics(int64_t bytes) const;

  void write_summary(const nlohmann::json& summary) const;  // atomic
  void mark_done() const;                                   // DONE, after the summary

  // Complete checkpoint directories (checkpoints/step_XXXXXXXX), newest first.
  std::vector<std::string> checkpoints() const;

 private:
  std::string path_;
};

// Exclusive ownership of a run directory while this object lives: an flock on
// DIR/.owner, which the kernel releases however the process ends (exit,
// SIGKILL, a crash), holding "pid P on host H" for the message that a second
// process gets. Taken before anything in the directory is written; on a
// shared file system the lock is only as good as its flock (NFSv4 and Lustre
// support it). Throws Error "DIR: run directory is in use by pid P on host H".
class RunOwner {
 public:
  explicit RunOwner(const std::string& dir);
  ~RunOwner();
  RunOwner(const RunOwner&) = delete;
  RunOwner& operator=(const RunOwner&) = delete;

 private:
  int fd_ = -1;
};

// Reads metrics.jsonl, skipping a torn last line (a crash mid-write).
std::vector<nlohmann::json> read_metrics(const std::string& path);

}  // namespace scalebed
