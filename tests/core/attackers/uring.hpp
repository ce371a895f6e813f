// A minimal io_uring client (raw system calls, no liburing) for one operation at a time.
#pragma once

#include <sys/socket.h>

namespace attacker {

// Runs IORING_OP_CONNECT on `fd` and returns its result: 0 or -errno. -ENOSYS when the kernel
// has no io_uring (or it is disabled).
int uring_connect(int fd, const sockaddr* address, socklen_t length);
// Runs IORING_OP_BIND (Linux 6.11) on `fd`; same results.
int uring_bind(int fd, const sockaddr* address, socklen_t length);

}  // namespace attacker
