// One trapped connect() or bind() while the gateway handles it.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>

#include "core/fd.hpp"
#include "core/seccomp_filter.hpp"
#include "core/socket_options.hpp"
#include "core/sockaddr.hpp"
#include "rules/event.hpp"

namespace sockgate {

class Container;
struct ActivePolicy;

// Which network namespace the target's socket belongs to.
enum class SocketHome {
  // The container's own: the usual case.
  container,
  // The host's: a socket the gateway switched earlier.
  host,
  // Another one, such as a namespace the container made itself; never bypassed.
  foreign,
};

struct Call {
  std::shared_ptr<Container> container;
  std::shared_ptr<const ActivePolicy> policy;
  std::uint64_t id = 0;
  pid_t tid = 0;
  SocketCall call;
  std::chrono::steady_clock::time_point started;

  // Our reference to the target's socket (pidfd_getfd).
  UniqueFd socket;
  int domain = 0;
  int type = 0;
  int protocol = 0;
  SocketKind kind = SocketKind::tcp4;
  SocketHome home = SocketHome::container;
  bool blocking = true;

  // The address as copied once from the target's memory.
  SocketAddress address;
  // Set when the address is a valid IPv4/IPv6 address for the socket, so a rule can match it.
  std::optional<rules::Event> event;
  rules::Decision decision;
};

}  // namespace sockgate
