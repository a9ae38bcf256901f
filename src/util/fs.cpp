// Atomic writes, whole-file reads and globbing for the run directory.
#include "util/fs.h"

#include <fcntl.h>
#include <glob.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "util/error.h"

namespace scalebed {
namespace fs = std::filesystem;

void sync_directory(const std::string& dir) {
  int fd = ::open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

void sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail_at(path, "cannot open to sync: ", std::strerror(errno));
  if (::fsync(fd) != 0) {
    const int err = errno;
    ::close(fd);
    fail_at(path, "cannot sync to disk: ", std::strerror(err));
  }
  ::close(fd);
}

void write_file_atomic(const std::string& path, const std::string& contents) {
  fs::path target(path);
  fs::path tmp = target;
  tmp += ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) fail_at(tmp.string(), "cannot create: ", std::strerror(errno));
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      fs::remove(tmp);
      fail_at(tmp.string(), "write failed: ", std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  int err = ::fsync(fd) == 0 ? 0 : errno;  // where a full disk may first show
  if (::close(fd) != 0 && err == 0) err = errno;
  if (err != 0) {
    fs::remove(tmp);
    fail_at(tmp.string(), "write failed: ", std::strerror(err));
  }
  std::error_code ec;
  fs::rename(tmp, target, ec);
  if (ec) {
    fs::remove(tmp);
    fail_at(path, "cannot rename into place: ", ec.message());
  }
  sync_directory(target.parent_path().string());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail_at(path, "cannot open: ", std::strerror(errno));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string why_missing(const std::string& path) {
  std::error_code ec;
  const auto status = std::filesystem::status(path, ec);
  if (std::filesystem::exists(status)) return "";
  if (!ec || ec == std::errc::no_such_file_or_directory) return "file not found";
  return "cannot access: " + ec.message();
}

void append_line(const std::string& path, const std::string& line) {
  std::ofstream out(path, std::ios::app | std::ios::binary);
  if (!out) fail_at(path, "cannot open for appending: ", std::strerror(errno));
  errno = 0;
  out << line << '\n';
  out.flush();
  if (!out) fail_at(path, "append failed: ", errno ? std::strerror(errno) : "stream error");
}

std::vector<std::string> expand_glob(const std::string& pattern) {
  glob_t g{};
  int rc = ::glob(pattern.c_str(), GLOB_ERR, nullptr, &g);
  std::vector<std::string> paths;
  if (rc == 0) {
    for (size_t i = 0; i < g.gl_pathc; ++i) paths.emplace_back(g.gl_pathv[i]);
  }
  globfree(&g);
  if (paths.empty()) fail_at(pattern, "no file matches");
  return paths;  // glob() returns them sorted
}

}  // namespace scalebed
