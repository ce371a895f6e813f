#include "core/cmd_check.hpp"

#include <iostream>
#include <memory>
#include <variant>

#include "rules/explain.hpp"
#include "rules/load.hpp"

namespace sockgate {

namespace {

std::string plural(std::size_t count, const char* word) {
  return std::to_string(count) + " " + word + (count == 1 ? "" : "s");
}

// Parses the --publish flags; on a bad one prints the message and returns std::nullopt.
std::optional<std::vector<rules::PublishSpec>> parse_publish_flags(
    const std::vector<std::string>& texts, std::ostream& err) {
  std::vector<rules::PublishSpec> specs;
  for (const auto& text : texts) {
    auto parsed = rules::parse_publish_spec(text);
    if (const auto* message = std::get_if<std::string>(&parsed)) {
      err << "sockgate check: " << *message << "\n";
      return std::nullopt;
    }
    specs.push_back(std::get<rules::PublishSpec>(parsed));
  }
  return specs;
}

std::string describe_inputs(const CheckOptions& options) {
  if (options.files.empty()) {
    return "the built-in policy";
  }
  return plural(options.files.size(), "file");
}

// Explains each event; returns false when one of them cannot be parsed.
bool explain_events(const CheckOptions& options, const rules::LoadResult& loaded, std::ostream& out,
                    std::ostream& err) {
  bool all_valid = true;
  for (const auto& text : options.explain) {
    auto parsed = rules::parse_explain_request(text);
    if (const auto* message = std::get_if<std::string>(&parsed)) {
      err << "sockgate check: " << *message << "\n";
      all_valid = false;
      continue;
    }
    const auto& request = std::get<rules::ExplainRequest>(parsed);
    const rules::Decision decision =
        loaded.policy->decide(request.event, loaded.policy->subject(request.labels));
    if (options.explain.size() > 1) {
      out << "event: " << text << "\n";
    }
    out << rules::explain_decision(*loaded.policy, decision, loaded.default_origin);
  }
  return all_valid;
}

}  // namespace

int run_check(const CheckOptions& options, std::ostream& out, std::ostream& err) {
  const auto publish = parse_publish_flags(options.publish, err);
  if (!publish) {
    return 1;
  }
  if (options.builtin) {
    out << rules::builtin_policy_text(*publish);
    return 0;
  }

  rules::LoadOptions load_options;
  load_options.files = options.files;
  load_options.publish = *publish;
  const rules::LoadResult loaded = rules::load_policy(load_options);
  err << loaded.format_diagnostics();

  const std::size_t errors = loaded.diagnostics.error_count();
  const std::size_t warnings = loaded.diagnostics.warning_count();
  if (!loaded.ok()) {
    err << "sockgate check: " << describe_inputs(options) << ": " << plural(errors, "error") << ", "
        << plural(warnings, "warning") << "\n";
    return 1;
  }
  err << "sockgate check: " << describe_inputs(options) << ": "
      << plural(loaded.policy->rules().size(), "rule") << ", default "
      << rules::to_string(loaded.policy->default_action()) << " (" << loaded.default_origin << "), "
      << plural(warnings, "warning") << "\n";

  const bool explained = explain_events(options, loaded, out, err);
  if (options.strict && warnings != 0) {
    err << "sockgate check: --strict makes warnings fatal\n";
    return 1;
  }
  return explained ? 0 : 1;
}

void add_check_command(CLI::App& app, int& exit_code) {
  auto options = std::make_shared<CheckOptions>();
  CLI::App* check = app.add_subcommand(
      "check", "Parse and compile rule files, print every error and warning, explain decisions");
  check->add_option("files", options->files,
                    "Rule files in order of precedence. Default: the built-in policy");
  check->add_flag("--strict", options->strict, "Fail on warnings too");
  // One value per occurrence, so `--explain EVENT FILE` leaves FILE a rule file.
  check
      ->add_option("--explain", options->explain,
                   "Print the decision and the rule that made it for an event such as "
                   "'connect tcp 203.0.113.7:443 label app=web'; repeatable")
      ->allow_extra_args(false);
  auto* builtin = check->add_flag("--builtin", options->builtin,
                                  "Print the built-in policy (with any --publish) and exit");
  check
      ->add_option("--publish,-p", options->publish,
                   "Publish [HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/tcp|/udp] as `run` does; "
                   "its rule goes before the files' rules; repeatable")
      ->allow_extra_args(false);
  builtin->excludes(check->get_option("files"));
  builtin->excludes(check->get_option("--explain"));
  check->callback([options, &exit_code] { exit_code = run_check(*options, std::cout, std::cerr); });
}

}  // namespace sockgate
