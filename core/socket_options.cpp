#include "core/socket_options.hpp"

#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cstring>

namespace sockgate {
namespace {

constexpr std::uint8_t kTcp = (1U << 0) | (1U << 1);
constexpr std::uint8_t kUdp = (1U << 2) | (1U << 3);
constexpr std::uint8_t kAll = kTcp | kUdp;
constexpr std::uint8_t kV6 = (1U << 1) | (1U << 3);

#ifndef IP_LOCAL_PORT_RANGE
#define IP_LOCAL_PORT_RANGE 51
#endif

// Order matters where one option limits another: IPV6_V6ONLY and the reuse flags come before
// anything that could bind, buffer sizes before the TCP options that depend on them.
constexpr SocketOption kOptions[] = {
    {SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", kAll, false},
    {SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", kAll, false},
    {SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", kTcp, false},
    {SOL_SOCKET, SO_LINGER, "SO_LINGER", kTcp, false},
    {SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF", kAll, true},
    {SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF", kAll, true},
    {SOL_SOCKET, SO_RCVTIMEO_OLD, "SO_RCVTIMEO", kAll, false},
    {SOL_SOCKET, SO_SNDTIMEO_OLD, "SO_SNDTIMEO", kAll, false},
    {SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", kAll, false},
    {SOL_SOCKET, SO_OOBINLINE, "SO_OOBINLINE", kTcp, false},
    {SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST", kUdp, false},
    {SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT", kAll, false},
    {SOL_SOCKET, SO_TIMESTAMP_OLD, "SO_TIMESTAMP", kAll, false},
    {SOL_SOCKET, SO_TIMESTAMPNS_OLD, "SO_TIMESTAMPNS", kAll, false},
    {SOL_SOCKET, SO_DONTROUTE, "SO_DONTROUTE", kAll, false},
    {SOL_SOCKET, SO_MAX_PACING_RATE, "SO_MAX_PACING_RATE", kAll, false},
    {SOL_SOCKET, SO_ZEROCOPY, "SO_ZEROCOPY", kAll, false},
    {IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", kV6, false},
    {IPPROTO_IPV6, IPV6_TCLASS, "IPV6_TCLASS", kV6, false},
    {IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS", kV6, false},
    {IPPROTO_IPV6, IPV6_RECVERR, "IPV6_RECVERR", kV6, false},
    {IPPROTO_IPV6, IPV6_MTU_DISCOVER, "IPV6_MTU_DISCOVER", kV6, false},
    {IPPROTO_IPV6, IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO", kV6 & kUdp, false},
    {IPPROTO_IPV6, IPV6_RECVTCLASS, "IPV6_RECVTCLASS", kV6, false},
    {IPPROTO_IPV6, IPV6_DONTFRAG, "IPV6_DONTFRAG", kV6, false},
    {IPPROTO_IPV6, IPV6_FREEBIND, "IPV6_FREEBIND", kV6, false},
    {IPPROTO_IP, IP_TOS, "IP_TOS", kAll, false},
    {IPPROTO_IP, IP_TTL, "IP_TTL", kAll, false},
    {IPPROTO_IP, IP_RECVERR, "IP_RECVERR", kAll, false},
    {IPPROTO_IP, IP_MTU_DISCOVER, "IP_MTU_DISCOVER", kAll, false},
    {IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, "IP_BIND_ADDRESS_NO_PORT", kAll, false},
    {IPPROTO_IP, IP_FREEBIND, "IP_FREEBIND", kAll, false},
    {IPPROTO_IP, IP_LOCAL_PORT_RANGE, "IP_LOCAL_PORT_RANGE", kAll, false},
    {IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO", kUdp, false},
    {IPPROTO_IP, IP_RECVTOS, "IP_RECVTOS", kUdp, false},
    {IPPROTO_IP, IP_RECVTTL, "IP_RECVTTL", kUdp, false},
    {IPPROTO_IP, IP_RECVORIGDSTADDR, "IP_RECVORIGDSTADDR", kUdp, false},
    {IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", kTcp, false},
    {IPPROTO_TCP, TCP_CORK, "TCP_CORK", kTcp, false},
    {IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG", kTcp, false},
    {IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", kTcp, false},
    {IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", kTcp, false},
    {IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", kTcp, false},
    {IPPROTO_TCP, TCP_SYNCNT, "TCP_SYNCNT", kTcp, false},
    {IPPROTO_TCP, TCP_LINGER2, "TCP_LINGER2", kTcp, false},
    {IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", kTcp, false},
    {IPPROTO_TCP, TCP_CONGESTION, "TCP_CONGESTION", kTcp, false},
    {IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", kTcp, false},
    {IPPROTO_TCP, TCP_FASTOPEN, "TCP_FASTOPEN", kTcp, false},
    {IPPROTO_TCP, TCP_FASTOPEN_CONNECT, "TCP_FASTOPEN_CONNECT", kTcp, false},
    {IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT", kTcp, false},
    {IPPROTO_TCP, TCP_WINDOW_CLAMP, "TCP_WINDOW_CLAMP", kTcp, false},
    {IPPROTO_TCP, TCP_THIN_LINEAR_TIMEOUTS, "TCP_THIN_LINEAR_TIMEOUTS", kTcp, false},
    {IPPROTO_TCP, TCP_INQ, "TCP_INQ", kTcp, false},
};

bool applies(const SocketOption& option, SocketKind kind) {
  return (option.kinds >> static_cast<unsigned>(kind)) & 1U;
}

}  // namespace

std::span<const SocketOption> carried_socket_options() { return kOptions; }

OptionValues read_socket_options(int fd, SocketKind kind) {
  OptionValues values(std::size(kOptions));
  for (std::size_t i = 0; i < std::size(kOptions); ++i) {
    const SocketOption& option = kOptions[i];
    if (!applies(option, kind)) {
      continue;
    }
    OptionValue& value = values[i];
    socklen_t length = static_cast<socklen_t>(value.bytes.size());
    if (::getsockopt(fd, option.level, option.name, value.bytes.data(), &length) == 0) {
      value.size = static_cast<std::uint8_t>(length);
    }
  }
  return values;
}

std::vector<std::string> carry_socket_options(int to, SocketKind kind, const OptionValues& from,
                                              const OptionValues& defaults) {
  std::vector<std::string> refused;
  for (std::size_t i = 0; i < std::size(kOptions); ++i) {
    const SocketOption& option = kOptions[i];
    if (!applies(option, kind) || from[i].size == 0 || from[i] == defaults[i]) {
      continue;
    }
    OptionValue value = from[i];
    if (option.doubled) {
      int size = 0;
      std::memcpy(&size, value.bytes.data(), sizeof size);
      size /= 2;
      std::memcpy(value.bytes.data(), &size, sizeof size);
    }
    if (::setsockopt(to, option.level, option.name, value.bytes.data(), value.size) != 0) {
      refused.emplace_back(option.label);
    }
  }
  return refused;
}

}  // namespace sockgate
