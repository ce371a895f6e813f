// The gateway's TOML configuration file, read by `sockgate serve --config FILE`.
//
// Every key is optional:
//
//   listener  = "$XDG_RUNTIME_DIR/sockgate/listener.sock"   # seccomp listener socket
//   control   = "$XDG_RUNTIME_DIR/sockgate/control.sock"    # status and reload socket
//   rules     = ["shop.rules", "~/rules/common.rules"]      # rule files, first match first
//   default   = "pass"                                      # overrides the files' default
//   metrics   = "127.0.0.1:9464"                            # "" disables the exporter
//   network   = "slirp4netns"                               # or "pasta", "none"
//   log_level = "info"                                      # spdlog level name
//
// Paths expand `$XDG_RUNTIME_DIR` (also `${XDG_RUNTIME_DIR}`) anywhere and `~` at the start;
// relative paths are relative to the configuration file's directory. docs/configuration.md
// describes the format for users.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/fallback_network.hpp"
#include "rules/event.hpp"

namespace sockgate::config {

struct GatewayConfig {
  // The configuration file this was read from; empty for the built-in defaults.
  std::string source;
  std::string listener_path;
  std::string control_path;
  // Rule files in order; empty: the built-in policy.
  std::vector<std::string> rule_files;
  // Replaces the default action of the rule files when set.
  std::optional<rules::Action> default_action;
  // IPV4:PORT of the Prometheus exporter, as metrics::parse_exposer_address accepts it (port 0:
  // any free port); empty disables it.
  std::string metrics_address = "127.0.0.1:9464";
  FallbackKind network = FallbackKind::slirp4netns;
  // One of trace, debug, info, warn, error, critical, off.
  std::string log_level = "info";
};

// The environment variables the configuration may refer to.
struct Environment {
  std::optional<std::string> xdg_runtime_dir;
  std::optional<std::string> home;

  static Environment from_process();
};

struct ConfigResult {
  // Absent when there are errors.
  std::optional<GatewayConfig> config;
  // Each as `FILE:LINE:COL: error: MESSAGE`, then the source line and a caret when the error
  // has a position.
  std::vector<std::string> errors;

  bool ok() const noexcept { return config.has_value(); }
};

// Reads and validates the configuration file at `path`. Failures, std::exception included,
// become errors in the result.
ConfigResult load_config(const std::string& path, const Environment& environment);

// Validates configuration text; `path` names it in messages and anchors relative paths.
ConfigResult parse_config(std::string_view text, const std::string& path,
                          const Environment& environment);

// The configuration without a file: default listener and control paths under
// $XDG_RUNTIME_DIR/sockgate, the built-in policy, metrics on 127.0.0.1:9464.
ConfigResult default_config(const Environment& environment);

}  // namespace sockgate::config
