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

}  // namespace scalebed
