// Run-directory files: metrics, summary, completion marker, checkpoint list.
#include "train/run_dir.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "util/error.h"
#include "util/fs.h"

namespace scalebed {
namespace fs = std::filesystem;

bool RunDirectory::exists() const {
  return fs::exists(path_);
}
bool RunDirectory::is_done() const {
  return fs::exists(file("DONE"));
}

void RunDirectory::create() const {
  std::error_code ec;
  fs::create_directories(checkpoints_dir(), ec);
  if (ec) fail_at(path_, "cannot create run directory: ", ec.message());
}

void RunDirectory::append_metrics(const nlohmann::json& line) const {
  append_line(file("metrics.jsonl"), line.dump());
}

int64_t RunDirectory::metrics_bytes() const {
  std::error_code ec;
  auto n = fs::file_size(file("metrics.jsonl"), ec);
  return ec ? 0 : static_cast<int64_t>(n);
}

void RunDirectory::sync_metrics() const {
  if (fs::exists(file("metrics.jsonl"))) sync_file(file("metrics.jsonl"));
}

void RunDirectory::truncate_metrics(int64_t bytes) const {
  const std::string path = file("metrics.jsonl");
  if (!fs::exists(path)) return;
  if (bytes > metrics_bytes()) {
    fail_at(path, "holds ", metrics_bytes(), " bytes, fewer than the ", bytes,
            " that the checkpoint records");
  }
  if (::truncate(path.c_str(), bytes) != 0) fail_at(path, "cannot truncate to ", bytes, " bytes");
}

void RunDirectory::write_summary(const nlohmann::json& summary) const {
  write_file_atomic(file("summary.json"), summary.dump(2) + "\n");
}

void RunDirectory::mark_done() const {
  write_file_atomic(file("DONE"), "done\n");
}

std::vector<std::string> RunDirectory::checkpoints() const {
  std::vector<std::string> out;
  if (!fs::exists(checkpoints_dir())) return out;
  for (const auto& entry : fs::directory_iterator(checkpoints_dir())) {
    const std::string name = entry.path().filename().string();
    if (entry.is_directory() && name.rfind("step_", 0) == 0) out.push_back(entry.path().string());
  }
  std::sort(out.rbegin(), out.rend());  // zero-padded step numbers sort by step
  return out;
}

RunOwner::RunOwner(const std::string& dir) {
  const std::string path = dir + "/.owner";
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) fail_at(path, "cannot open the run directory's lock file: ", std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    char holder[256] = {0};
    const ssize_t n = ::pread(fd_, holder, sizeof holder - 1, 0);
    ::close(fd_);
    fd_ = -1;
    if (err != EWOULDBLOCK) fail_at(path, "cannot lock the run directory: ", std::strerror(err));
    std::string who = n > 0 ? std::string(holder, static_cast<size_t>(n)) : "another process";
    while (!who.empty() && (who.back() == '\n' || who.back() == ' ')) who.pop_back();
    fail_at(dir, "run directory is in use by ", who,
            "; one process trains a run directory at a time (wait for it, or stop it)");
  }
  char host[256] = {0};
  ::gethostname(host, sizeof host - 1);
  const std::string me = "pid " + std::to_string(::getpid()) + " on host " + host + "\n";
  // Best effort: the lock itself is the flock, the text only names its holder.
  if (::ftruncate(fd_, 0) != 0 || ::pwrite(fd_, me.data(), me.size(), 0) < 0) {
    fail_at(path, "cannot write the run directory's lock file: ", std::strerror(errno));
  }
}

RunOwner::~RunOwner() {
  if (fd_ >= 0) ::close(fd_);  // releases the flock
}

std::vector<nlohmann::json> read_metrics(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    try {
      out.push_back(nlohmann::json::parse(line));
    } catch (const nlohmann::json::parse_error&) {
      if (in.peek() != EOF) fail_at(path, "corrupt metrics line ", out.size() + 1);
      // a torn last line: skipped
    }
  }
  return out;
}

}  // namespace scalebed
