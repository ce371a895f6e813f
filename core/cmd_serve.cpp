// The `serve` subcommand: reads the configuration file, applies the flags over it, and runs the
// gateway for container engines.
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/commands.hpp"
#include "core/config.hpp"
#include "core/log.hpp"
#include "core/policy_loader.hpp"
#include "core/serve.hpp"

namespace sockgate {
namespace {

struct ServeFlags {
  std::string config;
  std::optional<std::string> listener;
  std::vector<std::string> rule_files;
  std::optional<std::string> metrics;
  std::optional<std::string> control;
  std::optional<std::string> log_level;
  double state_timeout_seconds = 30;
};

// The configuration file (or the defaults) with the flags applied; prints the errors and returns
// std::nullopt when it is invalid.
std::optional<config::GatewayConfig> load_configuration(const ServeFlags& flags) {
  config::Environment environment = config::Environment::from_process();
  config::ConfigResult result = flags.config.empty()
                                    ? config::default_config(environment)
                                    : config::load_config(flags.config, environment);
  // Flags that set both socket paths make $XDG_RUNTIME_DIR unnecessary.
  if (!result.ok() && flags.config.empty() && flags.listener && flags.control) {
    result.config = config::GatewayConfig{};
  } else if (!result.ok()) {
    for (const std::string& error : result.errors) {
      std::fputs(error.c_str(), stderr);
    }
    return std::nullopt;
  }
  config::GatewayConfig gateway = *result.config;
  if (flags.listener) {
    gateway.listener_path = *flags.listener;
  }
  if (!flags.rule_files.empty()) {
    gateway.rule_files = flags.rule_files;
  }
  if (flags.metrics) {
    gateway.metrics_address = *flags.metrics == "none" ? "" : *flags.metrics;
  }
  if (flags.control) {
    gateway.control_path = *flags.control == "none" ? "" : *flags.control;
  }
  if (flags.log_level) {
    gateway.log_level = *flags.log_level;
  }
  return gateway;
}

int run_serve(const ServeFlags& flags) {
  std::optional<config::GatewayConfig> gateway = load_configuration(flags);
  if (!gateway) {
    return 1;
  }
  if (!set_log_level(gateway->log_level)) {
    std::fprintf(stderr,
                 "sockgate: invalid log level '%s': use trace, debug, info, warn, error "
                 "or off\n",
                 gateway->log_level.c_str());
    return 1;
  }
  if (flags.state_timeout_seconds <= 0) {
    std::fprintf(stderr,
                 "sockgate: invalid --state-timeout %g: use a number of seconds above "
                 "0\n",
                 flags.state_timeout_seconds);
    return 1;
  }
  ServeOptions options;
  options.listener_path = gateway->listener_path;
  options.control_path = gateway->control_path;
  options.gateway.load_policy =
      make_policy_loader(gateway->rule_files, {}, gateway->default_action);
  options.gateway.metrics_address = gateway->metrics_address;
  options.state_timeout =
      std::chrono::milliseconds(static_cast<long long>(flags.state_timeout_seconds * 1000));
  return serve_gateway(options);
}

}  // namespace

void add_serve_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ServeFlags>();
  CLI::App* serve = app.add_subcommand(
      "serve",
      "Serve as the seccomp agent of container engines (runc, crun, Podman): attach "
      "each container that a `sockgate profile` profile hands over");
  serve->add_option("--config", flags->config,
                    "Gateway configuration (TOML). Default: built-in defaults");
  serve->add_option("--listener", flags->listener,
                    "Seccomp listener socket that runtimes connect to. Default: "
                    "$XDG_RUNTIME_DIR/sockgate/listener.sock");
  serve->add_option("--rules", flags->rule_files,
                    "Rule file, in order of precedence; repeatable; replaces the configuration's "
                    "list. Default: the built-in policy");
  serve->add_option("--metrics", flags->metrics,
                    "Prometheus exposer address HOST:PORT (port 0: any free port), or none. "
                    "Default: 127.0.0.1:9464");
  serve->add_option("--control", flags->control,
                    "Control socket for status and reload, or none. Default: "
                    "$XDG_RUNTIME_DIR/sockgate/control.sock");
  serve->add_option("--log-level", flags->log_level,
                    "trace, debug (one line per decision), info, warn, error or off. Default: "
                    "info");
  serve
      ->add_option("--state-timeout", flags->state_timeout_seconds,
                   "Seconds a runtime's connection may take to send the container state")
      ->capture_default_str();
  serve->callback([flags, &exit_code] { exit_code = run_serve(*flags); });
}

}  // namespace sockgate
