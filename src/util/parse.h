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

// A command-line flag's value; throws UsageError naming the flag, what it
// takes and what it got ("--index: expected an integer >= 0, got '2.5'").
int64_t integer_flag(const std::string& flag, const std::string& text, int64_t min_value,
                     int64_t max_value = INT64_MAX);
double real_flag(const std::string& flag, const std::string& text);
double positive_flag(const std::string& flag, const std::string& text);  // > 0

}  // namespace scalebed
