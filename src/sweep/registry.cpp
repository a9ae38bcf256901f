// Point states, lock files with heartbeats, and the attempts ledger.
#include "sweep/registry.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>

#include <nlohmann/json.hpp>

#include "train/run_dir.h"
#include "util/claim.h"
#include "util/error.h"
#include "util/fs.h"

namespace scalebed {
namespace fs = std::filesystem;
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string iso_time() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

struct LockInfo {
  bool exists = false;
  std::string host, nonce;
  long pid = 0;
  double age_s = 0;  // since the last heartbeat
};

LockInfo read_lock(const std::string& path) {
  LockInfo info;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return info;
  info.exists = true;
  info.age_s = now_s() - (st.st_mtim.tv_sec + st.st_mtim.tv_nsec * 1e-9);
  std::ifstream in(path);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_object()) {
    info.host = j.value("host", "");
    info.nonce = j.value("nonce", "");
    info.pid = j.value("pid", 0L);
  }
  return info;
}

bool process_alive(long pid) {
  return pid > 0 && (::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM);
}

// A lock on this host is live exactly while its process exists: a killed
// worker's point is free at once, and a frozen one's (SIGSTOP, a long stall)
// is never handed to a second process while the first could wake and write.
// From another host it is live while its heartbeat is fresh.
bool is_live(const LockInfo& info, double stale_after_s) {
  if (!info.exists) return false;
  if (!info.host.empty() && info.host == hostname()) return process_alive(info.pid);
  return info.age_s <= stale_after_s;
}

std::string describe_holder(const LockInfo& info) {
  char buf[64];
  std::snprintf(buf, sizeof buf, ", heartbeat %.0fs ago", info.age_s);
  return (info.host.empty() ? std::string("(starting)")
                            : info.host + ":" + std::to_string(info.pid)) +
         buf;
}

std::string lock_path(const SweepSpec& spec, const SweepPoint& point) {
  return sweep_state_dir(spec) + "/locks/" + point.name + ".lock";
}

// Creates `path` exclusively with `contents`; false when it already exists.
bool create_exclusive(const std::string& path, const std::string& contents) {
  const int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
  if (fd < 0) {
    if (errno == EEXIST) return false;
    fail_at(path, "cannot create lock file: ", std::strerror(errno));
  }
  const bool ok =
      ::write(fd, contents.data(), contents.size()) == static_cast<ssize_t>(contents.size()) &&
      ::fsync(fd) == 0;
  const int err = errno;
  ::close(fd);
  if (!ok) {
    ::unlink(path.c_str());  // an empty lock would hold the point for stale_after_s
    fail_at(path, "cannot write lock file: ", std::strerror(err));
  }
  return true;
}

std::string last_error_line(const std::string& log_path) {
  std::ifstream in(log_path);
  std::string line, last, last_error;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    last = line;
    if (line.find("[error]") != std::string::npos) last_error = line;
  }
  return last_error.empty() ? last : last_error;
}

}  // namespace

const char* to_string(PointState s) {
  switch (s) {
    case PointState::kPending:
      return "pending";
    case PointState::kRunning:
      return "running";
    case PointState::kDone:
      return "done";
    case PointState::kFailed:
      return "failed";
  }
  return "?";
}

std::string hostname() {
  char buf[256] = {0};
  ::gethostname(buf, sizeof buf - 1);
  return buf;
}

std::string sweep_state_dir(const SweepSpec& spec) {
  return spec.out_dir + "/.sweep";
}

PointStatus point_status(const SweepSpec& spec, const SweepPoint& point) {
  PointStatus s;
  RunDirectory run(point.dir());
  if (run.is_done()) {
    s.state = PointState::kDone;
    return s;
  }
  const LockInfo lock = read_lock(lock_path(spec, point));
  if (is_live(lock, spec.scheduler.stale_after_s)) {
    s.state = PointState::kRunning;
    s.detail = describe_holder(lock);
    return s;
  }
  nlohmann::json summary;
  if (fs::exists(run.file("summary.json"))) {
    summary = nlohmann::json::parse(read_file(run.file("summary.json")), nullptr, false);
  }
  if (summary.is_object() && summary.value("status", "") == "failed") {
    s.state = PointState::kFailed;
    s.detail = summary.value("reason", "");
    if (s.detail.empty()) s.detail = last_error_line(run.file("log.txt"));
    return s;
  }
  if (!run.checkpoints().empty() && summary.is_object()) {
    s.detail = "resumable from step " + std::to_string(summary.value("steps", 0L));
  }
  return s;
}

std::unique_ptr<PointLock> PointLock::try_acquire(const SweepSpec& spec, const SweepPoint& point,
                                                  std::string* holder) {
  const std::string path = lock_path(spec, point);
  fs::create_directories(fs::path(path).parent_path());
  std::random_device rd;
  const std::string nonce = std::to_string(rd()) + std::to_string(rd()) + "-" +
                            std::to_string(static_cast<long>(::getpid()));
  const std::string contents = nlohmann::json{{"host", hostname()},
                                              {"pid", static_cast<long>(::getpid())},
                                              {"nonce", nonce},
                                              {"point", point.name},
                                              {"since", iso_time()}}
                                   .dump() +
                               "\n";
  const double stale = spec.scheduler.stale_after_s;
  auto make = [&] {
    return std::unique_ptr<PointLock>(new PointLock(path, nonce, spec.scheduler.heartbeat_s));
  };
  if (create_exclusive(path, contents)) return make();

  const LockInfo seen = read_lock(path);
  if (is_live(seen, stale) || (seen.exists && seen.nonce.empty() && seen.age_s < stale)) {
    if (holder) *holder = describe_holder(seen);
    return nullptr;
  }
  // Stale: take it over, one taker at a time.
  const std::string guard = path + ".takeover";
  if (!create_exclusive(guard, contents)) {
    struct stat st {};
    if (::stat(guard.c_str(), &st) == 0 && now_s() - st.st_mtim.tv_sec > stale) {
      ::unlink(guard.c_str());  // a taker that died midway
    }
    if (holder) *holder = "(being taken over)";
    return nullptr;
  }
  std::unique_ptr<PointLock> lock;
  const LockInfo again = read_lock(path);
  if (!again.exists || (again.nonce == seen.nonce && !is_live(again, stale))) {
    ::unlink(path.c_str());
    if (create_exclusive(path, contents)) lock = make();
  }
  ::unlink(guard.c_str());
  if (!lock && holder) *holder = describe_holder(read_lock(path));
  return lock;
}

std::optional<std::string> PointLock::taken_over() const {
  // A worker elsewhere takes a lock over once its heartbeat is stale (this
  // process was frozen): the file then holds that worker's nonce.
  const LockInfo now = read_lock(path_);
  if (now.nonce == nonce_) return std::nullopt;
  return "the point's lock " + path_ + " was taken over by " +
         (now.exists ? describe_holder(now) : std::string("nobody (it was removed)")) +
         " while this worker's heartbeat was stale";
}

PointLock::PointLock(std::string path, std::string nonce, double heartbeat_s)
    : path_(std::move(path)), nonce_(std::move(nonce)) {
  set_claim_verifier([this] { return taken_over(); });
  heartbeat_ = std::thread([this, heartbeat_s] {
    auto next = std::chrono::steady_clock::now();
    while (!stop_.load()) {
      if (std::chrono::steady_clock::now() >= next) {
        if (auto why = taken_over()) {  // then stop the heartbeat: it is not ours to touch
          mark_claim_lost(*why);
          return;
        }
        ::utimensat(AT_FDCWD, path_.c_str(), nullptr, 0);  // mtime = now
        next += std::chrono::milliseconds(static_cast<int64_t>(heartbeat_s * 1000));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
}

PointLock::~PointLock() {
  set_claim_verifier({});
  stop_ = true;
  heartbeat_.join();
  if (read_lock(path_).nonce == nonce_) ::unlink(path_.c_str());
}

void record_attempt(const SweepSpec& spec, const SweepPoint& point, const std::string& event,
                    int exit_code) {
  const std::string dir = sweep_state_dir(spec);
  fs::create_directories(dir);
  nlohmann::json line = {{"time", iso_time()},
                         {"unix_time", now_s()},
                         {"event", event},
                         {"index", point.index},
                         {"point", point.name},
                         {"host", hostname()},
                         {"pid", static_cast<long>(::getpid())}};
  if (event == "end") line["exit_code"] = exit_code;
  append_line(dir + "/attempts.jsonl", line.dump());
}

void mark_failed(const SweepPoint& point, const std::string& reason) {
  RunDirectory run(point.dir());
  fs::create_directories(run.path());
  nlohmann::json summary;
  if (fs::exists(run.file("summary.json"))) {
    summary = nlohmann::json::parse(read_file(run.file("summary.json")), nullptr, false);
  }
  if (!summary.is_object()) {
    summary = {{"format", kRunFormat}, {"name", point.name}};
  }
  summary["status"] = "failed";
  summary["reason"] = reason;
  run.write_summary(summary);
  append_line(run.file("log.txt"), "[" + iso_time() + "] [error] " + reason);
}

}  // namespace scalebed
