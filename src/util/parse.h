// Strict text-to-number parsing, the one home for config values, command-line
// flags and environment variables: the whole text must be the number, so
// "2.5" is not an integer, "1e99" is not 1, "-1" is not a huge unsigned and
// "3x" is not 3; integers must fit int64 and reals must be finite.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace scalebed {

std::optional<int64_t> parse_integer(const std::string& text);
std::optional<double> parse_real(const std::string& text);

// What is wrong with a value, or "" when nothing is: "expected an integer
// in [1, 1024], got '2.5'". The one wording of the flags' and validators' errors.
std::string integer_problem(const std::string& text, int64_t min_value,
                            int64_t max_value = INT64_MAX);
std::string real_problem(const std::string& text);      // finite
std::string positive_problem(const std::string& text);  // finite and > 0

// A command-line flag's value; throws UsageError naming the flag, what it
// takes and what it got ("--index: expected an integer >= 0, got '2.5'").
int64_t integer_flag(const std::string& flag, const std::string& text, int64_t min_value,
                     int64_t max_value = INT64_MAX);
double real_flag(const std::string& flag, const std::string& text);
double positive_flag(const std::string& flag, const std::string& text);  // > 0

}  // namespace scalebed
