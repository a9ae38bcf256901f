// Errors that name where they come from.
//
// Every user-facing failure in scalebed is an `Error` whose message starts
// with the place the bad input lives ("configs/tiny.yaml:12: model.heads ...",
// "data/shard_000.bin: bad magic ..."). SB_CHECK adds the source file:line of
// the check itself for internal invariants.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace scalebed {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

// A bad command line (exit code 2): the message names the flag.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream out;
  (out << ... << args);
  return out.str();
}
}  // namespace detail

// Throws Error(location + ": " + message parts).
template <typename... Args>
[[noreturn]] void fail_at(const std::string& location, const Args&... parts) {
  throw Error(location + ": " + detail::concat(parts...));
}

}  // namespace scalebed

#define SB_CHECK(cond, ...)                                                    \
  do {                                                                         \
    if (!(cond)) {                                                             \
      ::scalebed::fail_at(::scalebed::detail::concat(__FILE__, ":", __LINE__), \
                          "check failed: " #cond ": ", ##__VA_ARGS__);         \
    }                                                                          \
  } while (0)
