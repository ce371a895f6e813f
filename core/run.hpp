// `sockgate run`: one command in new user and network namespaces, with the gateway in-process.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/fallback_network.hpp"
#include "core/gateway.hpp"

namespace sockgate {

struct RunOptions {
  std::vector<std::string> command;
  std::vector<std::pair<std::string, std::string>> labels;
  FallbackKind network = FallbackKind::slirp4netns;
  // false: no seccomp filter and no gateway, only the namespaces and the fallback network.
  bool filter = true;
  GatewayOptions gateway;
  // The control socket for `sockgate status` and `sockgate reload`; empty for none.
  std::string control_path;
};

// Runs the command and returns its exit status (128 + N when signal N ended it), or 125 when
// sockgate itself failed before the command started, with the reason on standard error.
int run_command(const RunOptions& options);

}  // namespace sockgate
