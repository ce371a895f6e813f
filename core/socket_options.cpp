#include "core/socket_options.hpp"

#include <netinet/in.h>
#include <netinet/ip.h>
#include <linux/sock_diag.h>
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

constexpr std::uint8_t kConnect = static_cast<std::uint8_t>(CarryFor::connect);
constexpr std::uint8_t kBind = static_cast<std::uint8_t>(CarryFor::bind);
constexpr std::uint8_t kBoth = kConnect | kBind;

// Order matters where one option limits another: IPV6_V6ONLY and the reuse flags come before
// anything that could bind, buffer sizes before the TCP options that depend on them. Options
// that programs almost never set before connect or bind (SO_DONTROUTE, TCP_THIN_*, SO_TIMESTAMP
// on TCP) are left out: each read is a system call on every switch.
constexpr SocketOption kOptions[] = {
    {SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR", kAll, kBoth, false, -1},
    {SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT", kAll, kBoth, false, -1},
    {SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE", kTcp, kBoth, false, -1},
    {SOL_SOCKET, SO_LINGER, "SO_LINGER", kTcp, kBoth, false, -1},
    {SOL_SOCKET, SO_SNDBUF, "SO_SNDBUF", kAll, kBoth, true, SK_MEMINFO_SNDBUF},
    {SOL_SOCKET, SO_RCVBUF, "SO_RCVBUF", kAll, kBoth, true, SK_MEMINFO_RCVBUF},
    {SOL_SOCKET, SO_RCVTIMEO_OLD, "SO_RCVTIMEO", kAll, kBoth, false, -1},
    {SOL_SOCKET, SO_SNDTIMEO_OLD, "SO_SNDTIMEO", kAll, kBoth, false, -1},
    {SOL_SOCKET, SO_PRIORITY, "SO_PRIORITY", kAll, kBoth, false, -1},
    {SOL_SOCKET, SO_OOBINLINE, "SO_OOBINLINE", kTcp, kBoth, false, -1},
    {SOL_SOCKET, SO_BROADCAST, "SO_BROADCAST", kUdp, kBoth, false, -1},
    {SOL_SOCKET, SO_RCVLOWAT, "SO_RCVLOWAT", kAll, kBoth, false, -1},
    {SOL_SOCKET, SO_TIMESTAMP_OLD, "SO_TIMESTAMP", kUdp, kBoth, false, -1},
    {SOL_SOCKET, SO_TIMESTAMPNS_OLD, "SO_TIMESTAMPNS", kUdp, kBoth, false, -1},
    {SOL_SOCKET, SO_MAX_PACING_RATE, "SO_MAX_PACING_RATE", kAll, kBoth, false, -1},
    {SOL_SOCKET, SO_ZEROCOPY, "SO_ZEROCOPY", kAll, kBoth, false, -1},
    {IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY", kV6, kBoth, false, -1},
    {IPPROTO_IPV6, IPV6_TCLASS, "IPV6_TCLASS", kV6, kBoth, false, -1},
    {IPPROTO_IPV6, IPV6_UNICAST_HOPS, "IPV6_UNICAST_HOPS", kV6, kBoth, false, -1},
    {IPPROTO_IPV6, IPV6_RECVERR, "IPV6_RECVERR", kV6, kBoth, false, -1},
    {IPPROTO_IPV6, IPV6_MTU_DISCOVER, "IPV6_MTU_DISCOVER", kV6, kBoth, false, -1},
    {IPPROTO_IPV6, IPV6_RECVPKTINFO, "IPV6_RECVPKTINFO", kV6 & kUdp, kBoth, false, -1},
    {IPPROTO_IPV6, IPV6_RECVTCLASS, "IPV6_RECVTCLASS", kV6 & kUdp, kBoth, false, -1},
    {IPPROTO_IPV6, IPV6_DONTFRAG, "IPV6_DONTFRAG", kV6 & kUdp, kBoth, false, -1},
    {IPPROTO_IPV6, IPV6_FREEBIND, "IPV6_FREEBIND", kV6, kBind, false, -1},
    {IPPROTO_IP, IP_TOS, "IP_TOS", kAll, kBoth, false, -1},
    {IPPROTO_IP, IP_TTL, "IP_TTL", kAll, kBoth, false, -1},
    {IPPROTO_IP, IP_RECVERR, "IP_RECVERR", kAll, kBoth, false, -1},
    {IPPROTO_IP, IP_MTU_DISCOVER, "IP_MTU_DISCOVER", kAll, kBoth, false, -1},
    {IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, "IP_BIND_ADDRESS_NO_PORT", kAll, kConnect, false, -1},
    {IPPROTO_IP, IP_FREEBIND, "IP_FREEBIND", kAll, kBind, false, -1},
    {IPPROTO_IP, IP_LOCAL_PORT_RANGE, "IP_LOCAL_PORT_RANGE", kAll, kConnect, false, -1},
    {IPPROTO_IP, IP_PKTINFO, "IP_PKTINFO", kUdp, kBoth, false, -1},
    {IPPROTO_IP, IP_RECVTOS, "IP_RECVTOS", kUdp, kBoth, false, -1},
    {IPPROTO_IP, IP_RECVTTL, "IP_RECVTTL", kUdp, kBoth, false, -1},
    {IPPROTO_IP, IP_RECVORIGDSTADDR, "IP_RECVORIGDSTADDR", kUdp, kBoth, false, -1},
    {IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY", kTcp, kBoth, false, -1},
    {IPPROTO_TCP, TCP_CORK, "TCP_CORK", kTcp, kBoth, false, -1},
    {IPPROTO_TCP, TCP_MAXSEG, "TCP_MAXSEG", kTcp, kBoth, false, -1},
    {IPPROTO_TCP, TCP_KEEPIDLE, "TCP_KEEPIDLE", kTcp, kBoth, false, -1},
    {IPPROTO_TCP, TCP_KEEPINTVL, "TCP_KEEPINTVL", kTcp, kBoth, false, -1},
    {IPPROTO_TCP, TCP_KEEPCNT, "TCP_KEEPCNT", kTcp, kBoth, false, -1},
    {IPPROTO_TCP, TCP_SYNCNT, "TCP_SYNCNT", kTcp, kConnect, false, -1},
    {IPPROTO_TCP, TCP_LINGER2, "TCP_LINGER2", kTcp, kBoth, false, -1},
    {IPPROTO_TCP, TCP_USER_TIMEOUT, "TCP_USER_TIMEOUT", kTcp, kBoth, false, -1},
    {IPPROTO_TCP, TCP_CONGESTION, "TCP_CONGESTION", kTcp, kBoth, false, -1},
    {IPPROTO_TCP, TCP_DEFER_ACCEPT, "TCP_DEFER_ACCEPT", kTcp, kBind, false, -1},
    {IPPROTO_TCP, TCP_FASTOPEN, "TCP_FASTOPEN", kTcp, kBind, false, -1},
    {IPPROTO_TCP, TCP_FASTOPEN_CONNECT, "TCP_FASTOPEN_CONNECT", kTcp, kConnect, false, -1},
    {IPPROTO_TCP, TCP_NOTSENT_LOWAT, "TCP_NOTSENT_LOWAT", kTcp, kBoth, false, -1},
    {IPPROTO_TCP, TCP_WINDOW_CLAMP, "TCP_WINDOW_CLAMP", kTcp, kBoth, false, -1},
    {IPPROTO_TCP, TCP_INQ, "TCP_INQ", kTcp, kBoth, false, -1},
};

bool applies(const SocketOption& option, SocketKind kind) {
  return (option.kinds >> static_cast<unsigned>(kind)) & 1U;
}

}  // namespace

std::span<const SocketOption> carried_socket_options() { return kOptions; }

OptionValues read_socket_options(int fd, SocketKind kind) {
  return read_socket_options(fd, kind, static_cast<CarryFor>(kBoth));
}

OptionValues read_socket_options(int fd, SocketKind kind, CarryFor operation) {
  OptionValues values(std::size(kOptions));
  std::uint32_t meminfo[SK_MEMINFO_VARS] = {};
  socklen_t meminfo_length = sizeof meminfo;
  bool have_meminfo =
      ::getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfo, &meminfo_length) == 0 &&
      meminfo_length == sizeof meminfo;
  for (std::size_t i = 0; i < std::size(kOptions); ++i) {
    const SocketOption& option = kOptions[i];
    if (!applies(option, kind) || (option.operations & static_cast<unsigned>(operation)) == 0) {
      continue;
    }
    OptionValue& value = values[i];
    if (option.meminfo >= 0 && have_meminfo) {
      auto size = static_cast<int>(meminfo[option.meminfo]);
      std::memcpy(value.bytes.data(), &size, sizeof size);
      value.size = sizeof size;
      continue;
    }
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
