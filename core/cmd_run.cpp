#include <unistd.h>

#include <cstdio>
#include <string>
#include <variant>
#include <vector>

#include <fmt/format.h>

#include "core/commands.hpp"
#include "core/control.hpp"
#include "core/log.hpp"
#include "core/policy_loader.hpp"
#include "core/run.hpp"
#include "rules/publish.hpp"

namespace sockgate {
namespace {

struct RunFlags {
  std::vector<std::string> rule_files;
  std::vector<std::string> labels;
  std::vector<std::string> publishes;
  std::string network = "slirp4netns";
  std::string metrics = "127.0.0.1:9464";
  std::string control;
  std::string log_level = "warn";
  bool no_filter = false;
  bool metrics_given = false;
  std::vector<std::string> command;
};

std::pair<std::string, std::string> parse_label(const std::string& text) {
  auto equals = text.find('=');
  if (equals == 0 || text.empty()) {
    throw std::invalid_argument(fmt::format("invalid label '{}': use KEY=VALUE", text));
  }
  if (equals == std::string::npos) {
    return {text, ""};
  }
  return {text.substr(0, equals), text.substr(equals + 1)};
}

RunOptions to_options(const RunFlags& flags) {
  RunOptions options;
  options.command = flags.command;
  for (const std::string& label : flags.labels) {
    options.labels.push_back(parse_label(label));
  }
  options.network = parse_fallback(flags.network);
  options.filter = !flags.no_filter;
  std::vector<rules::PublishSpec> publishes;
  for (const std::string& text : flags.publishes) {
    auto parsed = rules::parse_publish_spec(text);
    if (auto* message = std::get_if<std::string>(&parsed)) {
      throw std::invalid_argument(*message);
    }
    publishes.push_back(std::get<rules::PublishSpec>(parsed));
  }
  options.gateway.load_policy = make_policy_loader(flags.rule_files, publishes, std::nullopt);
  options.gateway.metrics_address = flags.metrics == "none" ? "" : flags.metrics;
  options.gateway.metrics_optional = !flags.metrics_given;
  options.control_path = flags.control;
  if (options.control_path.empty() && options.filter && std::getenv("XDG_RUNTIME_DIR")) {
    options.control_path = run_control_path(::getpid());
  }
  if (options.control_path == "none") {
    options.control_path.clear();
  }
  return options;
}

}  // namespace

void add_run_command(CLI::App& app, int& exit_code, std::vector<std::string> command) {
  auto flags = std::make_shared<RunFlags>();
  CLI::App* run = app.add_subcommand(
      "run", "Run a command in new user and network namespaces, its sockets switched by rules");
  run->add_option("--rules", flags->rule_files,
                  "Rule file, in order of precedence; repeatable. Default: the built-in policy")
      ->allow_extra_args(false);
  run->add_option("--label", flags->labels, "Label KEY=VALUE for rule conditions; repeatable")
      ->allow_extra_args(false);
  run->add_option("--publish,-p", flags->publishes,
                  "Publish [HOST_ADDR:]HOST_PORT:CONTAINER_PORT[/tcp|/udp]: a bind of the "
                  "container port listens on the host port; repeatable")
      ->allow_extra_args(false);
  run->add_option("--net", flags->network,
                  "Network for traffic that is passed: slirp4netns, pasta or none")
      ->capture_default_str();
  run->add_option("--metrics", flags->metrics,
                  "Prometheus exposer address IPV4:PORT (port 0: any free port), or none")
      ->capture_default_str();
  run->add_option("--control", flags->control,
                  "Control socket for status and reload, or none. Default: "
                  "$XDG_RUNTIME_DIR/sockgate/run-PID.sock");
  run->add_option("--log-level", flags->log_level,
                  "trace, debug (one line per decision), info, warn, error or off")
      ->capture_default_str();
  run->add_flag("--no-filter", flags->no_filter,
                "Install no seccomp filter: the command uses the fallback network alone, for "
                "comparisons");
  run->footer("The command and its arguments follow the options after --, so that its own "
              "options are never taken for sockgate's.");
  run->callback([flags, run, command = std::move(command), &exit_code] {
    if (!set_log_level(flags->log_level)) {
      std::fprintf(stderr, "sockgate: invalid log level '%s': use trace, debug, info, warn, "
                   "error or off\n", flags->log_level.c_str());
      exit_code = 125;
      return;
    }
    flags->metrics_given = run->count("--metrics") > 0;
    flags->command = command;
    if (flags->command.empty()) {
      std::fprintf(stderr, "sockgate: missing command: use sockgate run [OPTIONS] -- COMMAND "
                   "[ARGS...]\n");
      exit_code = 125;
      return;
    }
    try {
      exit_code = run_command(to_options(*flags));
    } catch (const std::exception& error) {
      std::fprintf(stderr, "sockgate: %s\n", error.what());
      exit_code = 125;
    }
  });
}

}  // namespace sockgate
