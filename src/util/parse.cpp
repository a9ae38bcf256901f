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

std::string integer_problem(const std::string& text, int64_t min_value, int64_t max_value) {
  const auto v = parse_integer(text);
  if (v && *v >= min_value && *v <= max_value) return "";
  const std::string range = max_value == INT64_MAX ? ">= " + std::to_string(min_value)
                                                   : "in [" + std::to_string(min_value) + ", " +
                                                         std::to_string(max_value) + "]";
  return "expected an integer " + range + ", got '" + text + "'";
}

std::string real_problem(const std::string& text) {
  return parse_real(text) ? "" : "expected a number, got '" + text + "'";
}

std::string positive_problem(const std::string& text) {
  const auto v = parse_real(text);
  return v && *v > 0 ? "" : "expected a number > 0, got '" + text + "'";
}

namespace {
void throw_if(const std::string& flag, const std::string& problem) {
  if (!problem.empty()) throw UsageError(flag + ": " + problem);
}
}  // namespace

int64_t integer_flag(const std::string& flag, const std::string& text, int64_t min_value,
                     int64_t max_value) {
  throw_if(flag, integer_problem(text, min_value, max_value));
  return *parse_integer(text);
}

double real_flag(const std::string& flag, const std::string& text) {
  throw_if(flag, real_problem(text));
  return *parse_real(text);
}

double positive_flag(const std::string& flag, const std::string& text) {
  throw_if(flag, positive_problem(text));
  return *parse_real(text);
}

}  // namespace scalebed
