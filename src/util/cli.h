// Command lines on CLI11 (Debian's libcli11-dev), shared by `trainer`,
// `analyze` and the sweep scheduler's flags: util/parse.h's strict numbers as
// CLI11 validators, repeatable one-value options, and the one exit path
// (0 after --help, 2 = kExitUsage after a bad command line, with the
// program's name and a pointer to --help).
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace scalebed::cli {

// An app with scalebed's conventions: a repeated option keeps its last value
// (as the hand-written parsers did), help in two columns of 28.
void configure(CLI::App& app);

// Validators whose messages are parse.h's ("expected an integer >= 1, got 'x'";
// CLI11 puts the option's name in front).
CLI::Validator integer_in(int64_t min_value, int64_t max_value = INT64_MAX);
CLI::Validator real_number();      // finite
CLI::Validator positive_number();  // finite and > 0

// An option whose text is checked by integer_in(min, max) and then stored.
template <typename T>
CLI::Option* add_integer(CLI::App& app, const std::string& name, T& target, int64_t min_value,
                         int64_t max_value, const std::string& help) {
  return app
      .add_option_function<std::string>(
          name, [&target](const std::string& text) { target = static_cast<T>(std::stoll(text)); },
          help)
      ->check(integer_in(min_value, max_value))
      ->type_name("INT");
}
CLI::Option* add_real(CLI::App& app, const std::string& name, double& target,
                      const std::string& help);
CLI::Option* add_positive(CLI::App& app, const std::string& name, double& target,
                          const std::string& help);
// A repeatable option of one value per occurrence (--set K=V --set K2=V2).
CLI::Option* add_repeated(CLI::App& app, const std::string& name, std::vector<std::string>& target,
                          const std::string& help);

// Prints "PROGRAM: message" and the pointer to --help on stderr; returns 2
// (kExitUsage). The one wording of a bad command line, for errors found after
// parsing too.
int usage_error(const std::string& program, const std::string& message);

// Parses args (argv without the program name). nullopt: go on; otherwise the
// exit code: 0 after --help (printed to stdout), 2 after a bad command line
// (CLI11's message, or a UsageError from an option's own check, on stderr).
std::optional<int> parse(CLI::App& app, std::vector<std::string> args);

}  // namespace scalebed::cli
