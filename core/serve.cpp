#include "core/serve.hpp"

#include <signal.h>
#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <system_error>

#include "core/control.hpp"
#include "core/log.hpp"
#include "core/oci_listener.hpp"

namespace sockgate {
namespace {

// strerror(3) as a string; std::generic_category() is thread-safe, strerror is not.
std::string error_text(int error) {
  return std::generic_category().message(error);
}

// Blocks the signals that the loop reads from a signalfd, before any thread starts, so that
// every thread inherits the mask and none of them takes the signal instead.
sigset_t block_serve_signals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGHUP);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  ::pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A runtime that hangs up while the control server writes must not end the gateway.
  ::signal(SIGPIPE, SIG_IGN);
  return signals;
}

// Reads signals until SIGTERM or SIGINT; SIGHUP reloads. Returns the signal that ended it.
int wait_for_stop(Gateway& gateway, const sigset_t& signals) {
  UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC));
  if (!signal_fd) {
    throw std::runtime_error(std::string("signalfd: ") + error_text(errno));
  }
  for (;;) {
    signalfd_siginfo info{};
    ssize_t length = ::read(signal_fd.get(), &info, sizeof info);
    if (length != static_cast<ssize_t>(sizeof info)) {
      continue;
    }
    int signal = static_cast<int>(info.ssi_signo);
    if (signal != SIGHUP) {
      return signal;
    }
    log().info("SIGHUP from pid {}: reloading the policy", info.ssi_pid);
    gateway.reload();
  }
}

// The gateway and its sockets, stopped in the reverse order of their start.
struct Service {
  std::unique_ptr<Gateway> gateway;
  std::unique_ptr<ControlServer> control;
  std::unique_ptr<OciListener> listener;

  void stop() {
    // No new containers first, then no more requests, then release the attached containers.
    listener.reset();
    control.reset();
    if (gateway) {
      std::size_t attached = gateway->containers().size();
      gateway->stop();
      log().info(
          "stopped: {} containers detached; their trapped connect and bind calls now "
          "fail with ENOSYS",
          attached);
    }
  }
};

// Starts the listener before the control server: the listener does not start while another
// gateway listens on its path, and the control server would replace that gateway's socket.
void start_service(Service& service, const ServeOptions& options) {
  service.gateway = std::make_unique<Gateway>(options.gateway);
  Gateway& gateway = *service.gateway;
  OciListenerOptions listener;
  listener.path = options.listener_path;
  listener.timeout = options.state_timeout;
  service.listener = std::make_unique<OciListener>(
      std::move(listener),
      [&gateway](ContainerInfo info, UniqueFd notify_fd) {
        gateway.attach(std::move(info), std::move(notify_fd));
      },
      [&gateway] { gateway.count_error(metrics::ErrorKind::listener); });
  if (!options.control_path.empty()) {
    service.control = std::make_unique<ControlServer>(options.control_path, gateway);
  }
}

// Prints the diagnostics of invalid rule files as `sockgate check` does; returns whether the
// rules compile. The gateway compiles them again when it starts.
bool check_rules(const ServeOptions& options) {
  LoadedPolicy initial = options.gateway.load_policy();
  if (initial.policy) {
    return true;
  }
  for (const std::string& error : initial.errors) {
    std::fputs(error.c_str(), stderr);
  }
  log().error("not started: the rule files have errors");
  return false;
}

}  // namespace

int serve_gateway(const ServeOptions& options) {
  if (!check_rules(options)) {
    return 1;
  }

  sigset_t signals = block_serve_signals();
  Service service;
  try {
    start_service(service, options);
  } catch (const std::exception& error) {
    log().error("cannot start: {}", error.what());
    service.stop();
    return 1;
  }
  log().info("serving: listener {}, control {}, {} rules, pid {}", options.listener_path,
             options.control_path.empty() ? "none" : options.control_path,
             service.gateway->policy()->policy->rules().size(), ::getpid());

  int signal = 0;
  try {
    signal = wait_for_stop(*service.gateway, signals);
  } catch (const std::exception& error) {
    log().error("{}", error.what());
  }
  if (signal == SIGINT || signal == SIGTERM) {
    log().info("{}: stopping", signal == SIGINT ? "SIGINT" : "SIGTERM");
  }
  service.stop();
  return signal != 0 ? 0 : 1;
}

}  // namespace sockgate
