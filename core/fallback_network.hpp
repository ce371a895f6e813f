// The user-mode network that carries what is not bypassed: slirp4netns (as Podman starts it) or
// pasta, attached to a process's network namespace.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>

#include "core/fd.hpp"

namespace sockgate {

enum class FallbackKind { slirp4netns, pasta, none };

// Parses "slirp4netns", "pasta" or "none"; throws std::invalid_argument naming the value.
FallbackKind parse_fallback(std::string_view name);

class FallbackNetwork {
 public:
  // Starts the network for the namespaces of `pid` and waits until it is configured. Throws
  // std::runtime_error with the program's own message when it fails to start.
  FallbackNetwork(FallbackKind kind, pid_t pid);
  ~FallbackNetwork();
  FallbackNetwork(const FallbackNetwork&) = delete;
  FallbackNetwork& operator=(const FallbackNetwork&) = delete;

  // The helper's pid; 0 for none.
  pid_t pid() const { return pid_; }
  // Called when the helper exited on its own; logs it.
  void exited(int status);

 private:
  void start_slirp4netns(pid_t target);
  void start_pasta(pid_t target);
  void wait_for_address(pid_t target);
  void wait_for_ipv6(pid_t target);

  FallbackKind kind_;
  pid_t pid_ = 0;
  UniqueFd exit_fd_;
  // The helper's standard output and error (a memfd).
  UniqueFd output_;
  bool running_ = false;
};

}  // namespace sockgate
