// Access to a container's network namespace from the gateway, which stays in the host's:
// sockets made inside it, and the addresses its interfaces carry.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <span>
#include <vector>

#include "core/fd.hpp"
#include "rules/event.hpp"

namespace sockgate {

struct SocketRequest {
  int domain;
  int type;
  int protocol;
};

// Creates up to 12 sockets inside the user and network namespaces of the process behind `pidfd`: a
// short-lived child of the gateway joins them with setns(2) and sends the sockets back. The
// gateway's user owns those namespaces (it made them, or the container engine did as the same
// user), which is what setns requires. Throws std::system_error.
std::vector<UniqueFd> open_sockets_in_netns(int pidfd, std::span<const SocketRequest> requests);

// An IP prefix: the address with host bits cleared and the prefix length in IPv6 form (IPv4
// prefixes are IPv4-mapped, so 10.0.2.0/24 is ::ffff:10.0.2.0/120).
struct IpPrefix {
  rules::IpAddress network;
  unsigned length = 128;

  bool contains(const rules::IpAddress& address) const noexcept;
};

// The prefixes of every address on the interfaces of the network namespace behind a
// NETLINK_ROUTE socket: the addresses themselves and their subnets. Throws std::system_error.
std::vector<IpPrefix> dump_interface_prefixes(int route_socket);

// Subscribes a NETLINK_ROUTE socket to address changes (RTMGRP_IPV4_IFADDR, RTMGRP_IPV6_IFADDR).
void subscribe_address_changes(int route_socket);

// Reads and discards pending notifications on a subscribed NETLINK_ROUTE socket without
// blocking; returns whether there were any.
bool drain_route_notifications(int route_socket);

}  // namespace sockgate
