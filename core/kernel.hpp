// Thin wrappers for the kernel interfaces that glibc 2.36 does not wrap, and the seccomp
// constants that Debian 12's kernel headers (6.1) predate.
#pragma once

#include <linux/seccomp.h>
#include <sys/ioctl.h>
#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "core/fd.hpp"

#ifndef SECCOMP_IOCTL_NOTIF_SET_FLAGS
#define SECCOMP_IOCTL_NOTIF_SET_FLAGS SECCOMP_IOW(4, __u64)
#endif
#ifndef SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP
#define SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP (1UL << 0)
#endif

namespace sockgate {

// The errno of the last failed call as a std::system_error.
[[noreturn]] void throw_errno(const std::string& what);
std::system_error errno_error(int error, const std::string& what);

// pidfd_open(2). `thread` asks for a pidfd of a single thread (PIDFD_THREAD, Linux 6.9).
// Returns -errno on failure.
int pidfd_open(pid_t pid, bool thread) noexcept;
// pidfd_getfd(2): a duplicate of `target_fd` of the process behind `pidfd`, close-on-exec.
// Returns -errno on failure.
int pidfd_getfd(int pidfd, int target_fd) noexcept;
int pidfd_send_signal(int pidfd, int signal) noexcept;

// SO_COOKIE of a socket; 0 when the kernel gives none.
std::uint64_t socket_cookie(int fd) noexcept;
// SO_NETNS_COOKIE (Linux 5.14) of the network namespace of a socket; 0 when unknown.
std::uint64_t netns_cookie(int fd) noexcept;

// Sends descriptors and a few bytes of data over a unix socket with SCM_RIGHTS.
void send_fds(int socket, std::span<const int> fds, std::span<const std::byte> data);
// Receives up to `max_fds` descriptors and up to `data.size()` bytes. Returns the bytes read;
// 0 at end of file. Throws on errors and on truncated control data (the descriptors that did
// arrive are closed).
std::size_t receive_fds(int socket, std::vector<UniqueFd>& fds, std::size_t max_fds,
                        std::span<std::byte> data);

// What /proc/PID/fdinfo/FD shows of a descriptor of another process: its close-on-exec flag,
// which the kernel exposes nowhere else, and the inode of the file it refers to.
struct RemoteDescriptor {
  bool cloexec = false;
  ino_t inode = 0;
};

// Parses the text of an fdinfo file; std::nullopt when it lacks the flags or inode line.
std::optional<RemoteDescriptor> parse_fdinfo(std::string_view text) noexcept;

}  // namespace sockgate
