// A socket address copied out of a target process, and its conversion to and from the policy's
// address type.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

#include "rules/event.hpp"

namespace sockgate {

struct SocketAddress {
  sockaddr_storage storage{};
  socklen_t length = 0;

  // An address of `family` (AF_INET or AF_INET6) for `address`; an IPv4 address in an AF_INET6
  // address is written IPv4-mapped.
  static SocketAddress from(int family, const rules::IpAddress& address, std::uint16_t port);
  // The wildcard address of `family` with `port`.
  static SocketAddress any(int family, std::uint16_t port);

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
  sockaddr* get() { return reinterpret_cast<sockaddr*>(&storage); }

  // The address and port of an AF_INET or AF_INET6 address of full length.
  std::optional<rules::IpAddress> ip() const;
  std::uint16_t port() const;
  // "198.18.0.2:80", "[2001:db8::2]:80", or "family N" for anything else.
  std::string to_string() const;
};

}  // namespace sockgate
