#include "core/sockaddr.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include <fmt/format.h>

namespace sockgate {

SocketAddress SocketAddress::from(int family, const rules::IpAddress& address,
                                  std::uint16_t port) {
  SocketAddress result;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&result.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr = address.to_v4();
    result.length = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&result.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    in6->sin6_addr = address.to_v6();
    result.length = sizeof(sockaddr_in6);
  }
  return result;
}

SocketAddress SocketAddress::any(int family, std::uint16_t port) {
  SocketAddress result;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&result.storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(port);
    in->sin_addr.s_addr = htonl(INADDR_ANY);
    result.length = sizeof(sockaddr_in);
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&result.storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(port);
    in6->sin6_addr = in6addr_any;
    result.length = sizeof(sockaddr_in6);
  }
  return result;
}

std::optional<rules::IpAddress> SocketAddress::ip() const {
  if (storage.ss_family == AF_INET && length >= sizeof(sockaddr_in)) {
    return rules::IpAddress::from_v4(reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr);
  }
  if (storage.ss_family == AF_INET6 && length >= sizeof(sockaddr_in6)) {
    return rules::IpAddress::from_v6(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr);
  }
  return std::nullopt;
}

std::uint16_t SocketAddress::port() const {
  if (storage.ss_family == AF_INET) {
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
  }
  if (storage.ss_family == AF_INET6) {
    return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
  }
  return 0;
}

std::string SocketAddress::to_string() const {
  auto address = ip();
  if (!address) {
    return fmt::format("family {}", storage.ss_family);
  }
  if (storage.ss_family == AF_INET6 && !address->is_v4()) {
    return fmt::format("[{}]:{}", address->to_string(), port());
  }
  if (storage.ss_family == AF_INET6) {
    return fmt::format("[::ffff:{}]:{}", address->to_string(), port());
  }
  return fmt::format("{}:{}", address->to_string(), port());
}

}  // namespace sockgate
