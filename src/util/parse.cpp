// Strict number parsing (see parse.h).
#include "util/parse.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "util/error.h"

namespace scalebed {

std::optional<int64_t> parse_integer(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  if (end != text.c_str() + text.size() || errno == ERANGE) return std::nullopt;
  return static_cast<int64_t>(v);
}

std::optional<double> parse_real(const std::string& text) {
  if (text.empty()) return std::nullopt;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (end != text.c_str() + text.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

int64_t integer_flag(const std::string& flag, const std::string& text, int64_t min_value,
                     int64_t max_value) {
  const auto v = parse_integer(text);
  if (!v || *v < min_value || *v > max_value) {
    const std::string range = max_value == INT64_MAX ? ">= " + std::to_string(min_value)
                                                     : "in [" + std::to_string(min_value) + ", " +
                                                           std::to_string(max_value) + "]";
    throw UsageError(flag + ": expected an integer " + range + ", got '" + text + "'");
  }
  return *v;
}

double real_flag(const std::string& flag, const std::string& text) {
  const auto v = parse_real(text);
  if (!v) throw UsageError(flag + ": expected a number, got '" + text + "'");
  return *v;
}

double positive_flag(const std::string& flag, const std::string& text) {
  const auto v = parse_real(text);
  if (!v || *v <= 0) throw UsageError(flag + ": expected a number > 0, got '" + text + "'");
  return *v;
}

}  // namespace scalebed
