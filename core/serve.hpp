// `sockgate serve`: the long-running gateway for container engines. It owns the gateway, the
// OCI seccomp listener that runtimes hand their containers to, and the control socket.
#pragma once

#include <chrono>
#include <string>

#include "core/gateway.hpp"

namespace sockgate {

struct ServeOptions {
  std::string listener_path;
  // Empty: no control socket.
  std::string control_path;
  GatewayOptions gateway;
  // How long a runtime's connection may take to deliver the container state.
  std::chrono::milliseconds state_timeout{30000};
};

// Serves until SIGTERM or SIGINT; SIGHUP reloads the policy. On stop it closes the listener,
// detaches every container (the kernel then fails their trapped calls with ENOSYS) and removes
// the socket files. Returns the exit status: 0 after a clean stop, 1 when the gateway could not
// start (the reason is logged).
int serve_gateway(const ServeOptions& options);

}  // namespace sockgate
