// Command lines on CLI11 (see cli.h).
#include "util/cli.h"

#include <algorithm>
#include <iostream>

#include "util/error.h"
#include "util/exit_codes.h"
#include "util/parse.h"

namespace scalebed::cli {

void configure(CLI::App& app) {
  app.option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  app.get_formatter()->column_width(28);
}

CLI::Validator integer_in(int64_t min_value, int64_t max_value) {
  return CLI::Validator(
      [=](std::string& text) { return integer_problem(text, min_value, max_value); }, "");
}

CLI::Validator real_number() {
  return CLI::Validator([](std::string& text) { return real_problem(text); }, "");
}

CLI::Validator positive_number() {
  return CLI::Validator([](std::string& text) { return positive_problem(text); }, "");
}

namespace {
CLI::Option* add_number(CLI::App& app, const std::string& name, double& target,
                        const CLI::Validator& check, const std::string& help) {
  return app
      .add_option_function<std::string>(
          name, [&target](const std::string& text) { target = *parse_real(text); }, help)
      ->check(check)
      ->type_name("X");
}
}  // namespace

CLI::Option* add_real(CLI::App& app, const std::string& name, double& target,
                      const std::string& help) {
  return add_number(app, name, target, real_number(), help);
}

CLI::Option* add_positive(CLI::App& app, const std::string& name, double& target,
                          const std::string& help) {
  return add_number(app, name, target, positive_number(), help);
}

CLI::Option* add_repeated(CLI::App& app, const std::string& name, std::vector<std::string>& target,
                          const std::string& help) {
  return app.add_option(name, target, help)
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->expected(1)
      ->allow_extra_args(false);
}

int usage_error(const std::string& program, const std::string& message) {
  std::cerr << program << ": " << message << "\n(run " << program << " --help for usage)\n";
  return kExitUsage;
}

std::optional<int> parse(CLI::App& app, std::vector<std::string> args) {
  const std::string program = app.get_name();
  try {
    std::reverse(args.begin(), args.end());  // CLI11 takes them last-first
    app.parse(args);
    return std::nullopt;
  } catch (const CLI::CallForHelp&) {
    std::cout << app.help();
    return kExitOk;
  } catch (const CLI::ParseError& e) {
    return usage_error(program, e.what());
  } catch (const UsageError& e) {
    return usage_error(program, e.what());
  }
}

}  // namespace scalebed::cli
