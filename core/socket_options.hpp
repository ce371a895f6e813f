// The socket state that a bypass carries from the container's socket to the host socket that
// replaces it: the socket options an application may set before connect() or bind().
//
// An option is carried when its value on the container's socket differs from its value on a
// fresh socket of the same kind in the container's network namespace (the "defaults", read
// once per container). Options the application never touched are therefore left at the host's
// own defaults, which keeps buffer autotuning and the host's congestion control. The list is
// in docs/switching.md.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace sockgate {

// The kinds of policed sockets: TCP or UDP over IPv4 or IPv6.
enum class SocketKind : std::uint8_t { tcp4, tcp6, udp4, udp6 };
inline constexpr std::size_t kSocketKinds = 4;

// The operation a socket's options are carried for: listener options matter only to a bind,
// options of the opening handshake only to a connect.
enum class CarryFor : std::uint8_t { connect = 1, bind = 2 };

struct SocketOption {
  int level;
  int name;
  const char* label;
  // Which kinds the option applies to, as a bit mask of 1 << SocketKind.
  std::uint8_t kinds;
  // Which operations it is carried for, as a bit mask of CarryFor.
  std::uint8_t operations;
  // SO_SNDBUF and SO_RCVBUF read back twice what was set. Both are read with one SO_MEMINFO
  // call, which returns them at index `meminfo` (-1 for the other options).
  bool doubled;
  int meminfo;
};

// The carried options, in the order they are set.
std::span<const SocketOption> carried_socket_options();

// One option's value as raw bytes; `size` 0 when the kernel refused to read it.
struct OptionValue {
  std::uint8_t size = 0;
  std::array<std::byte, 16> bytes{};

  friend bool operator==(const OptionValue&, const OptionValue&) = default;
};

// The values of every carried option on one socket, indexed like carried_socket_options().
using OptionValues = std::vector<OptionValue>;

// Reads the options that apply to `kind` and `operation` (both operations when absent); the
// others stay empty. Each costs a system call, so the list holds what applications set.
OptionValues read_socket_options(int fd, SocketKind kind);
OptionValues read_socket_options(int fd, SocketKind kind, CarryFor operation);

// Sets on `to` each option whose value in `from` differs from `defaults`. Returns the labels of
// the options the host refused (for a debug log); the socket remains usable.
std::vector<std::string> carry_socket_options(int to, SocketKind kind, const OptionValues& from,
                                              const OptionValues& defaults);

}  // namespace sockgate
