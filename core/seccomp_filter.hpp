// The seccomp filter that makes the kernel notify sockgate of connect() and bind(), and the
// decoding of a notification into the socket call it stands for.
#pragma once

#include <linux/seccomp.h>

#include <cstdint>
#include <optional>

#include "core/fd.hpp"
#include "rules/event.hpp"

namespace sockgate {

// Installs, in the calling process, a filter that allows every system call but connect and bind,
// which are sent to the returned notification descriptor (for the native ABI, x32 and i386,
// socketcall included). Nothing else is notified: each notification costs tens of
// microseconds. The caller needs CAP_SYS_ADMIN in its user namespace or no_new_privs; the filter
// does not set no_new_privs itself. Throws std::system_error.
UniqueFd install_socket_filter();

// A trapped connect or bind. For i386 socketcall the arguments live in the target's memory:
// `socketcall_args` then holds their address and fd/address/length are read later.
struct SocketCall {
  rules::Operation operation = rules::Operation::connect;
  int fd = -1;
  std::uint64_t address = 0;
  std::uint64_t address_length = 0;
  std::optional<std::uint64_t> socketcall_args;
};

// Decodes a notification; std::nullopt when it is not a connect or bind (the filter sends
// nothing else, so the caller treats that as an internal error).
std::optional<SocketCall> decode_socket_call(const seccomp_data& data);

}  // namespace sockgate
