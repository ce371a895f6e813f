// The few sock_diag queries the core needs on its rare paths: which TCP listeners a network
// namespace has. (Byte accounting, the frequent use of sock_diag, lives in metrics/.)
#pragma once

#include <cstdint>
#include <vector>

#include "rules/event.hpp"

namespace sockgate {

struct TcpListener {
  int family = 0;
  rules::IpAddress address;
  std::uint16_t port = 0;
  std::uint64_t cookie = 0;
};

// Every listening TCP socket, IPv4 and IPv6, of the namespace behind a NETLINK_SOCK_DIAG
// socket. Throws std::system_error.
std::vector<TcpListener> dump_tcp_listeners(int sock_diag);

}  // namespace sockgate
