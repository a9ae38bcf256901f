// Console + log-file logging (spdlog underneath).
//
// spdlog stays behind this header on purpose: LibTorch ships its own, newer
// {fmt} headers on its include path, which clash with the {fmt} that Debian's
// spdlog was built against. Translation units that include torch therefore
// log through this small interface and format with strprintf().
#pragma once

#include <chrono>
#include <memory>
#include <string>

namespace spdlog {
class logger;
}

namespace scalebed {

class Logger {
 public:
  // Logs to stderr, and also to `log_file` when it is not empty (appending).
  explicit Logger(const std::string& log_file = "");
  void info(const std::string& message) const;
  void warn(const std::string& message) const;
  void error(const std::string& message) const;

 private:
  std::shared_ptr<spdlog::logger> logger_;
};

// A duration for progress lines: "12.3s", "4m05s", "2h13m" ("?" when unknown).
std::string format_duration(double seconds);

// Seconds from `start` until now, on the monotonic clock.
inline double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// printf-style formatting into a std::string.
std::string strprintf(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace scalebed
