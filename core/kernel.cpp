#include "core/kernel.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#ifndef PIDFD_THREAD
#define PIDFD_THREAD O_EXCL
#endif
#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace sockgate {

std::system_error errno_error(int error, const std::string& what) {
  return std::system_error(error, std::generic_category(), what);
}

void throw_errno(const std::string& what) { throw errno_error(errno, what); }

int pidfd_open(pid_t pid, bool thread) noexcept {
  long fd = ::syscall(SYS_pidfd_open, pid, thread ? PIDFD_THREAD : 0);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

int pidfd_getfd(int pidfd, int target_fd) noexcept {
  long fd = ::syscall(SYS_pidfd_getfd, pidfd, target_fd, 0);
  return fd < 0 ? -errno : static_cast<int>(fd);
}

int pidfd_send_signal(int pidfd, int signal) noexcept {
  long r = ::syscall(SYS_pidfd_send_signal, pidfd, signal, nullptr, 0);
  return r < 0 ? -errno : 0;
}

std::uint64_t socket_cookie(int fd) noexcept {
  std::uint64_t cookie = 0;
  socklen_t length = sizeof cookie;
  if (::getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &length) != 0) {
    return 0;
  }
  return cookie;
}

std::uint64_t netns_cookie(int fd) noexcept {
  std::uint64_t cookie = 0;
  socklen_t length = sizeof cookie;
  if (::getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &length) != 0) {
    return 0;
  }
  return cookie;
}

void send_fds(int socket, std::span<const int> fds, std::span<const std::byte> data) {
  std::byte placeholder{0};
  iovec iov{};
  if (data.empty()) {
    iov = {&placeholder, 1};
  } else {
    iov = {const_cast<std::byte*>(data.data()), data.size()};
  }
  std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  if (!fds.empty()) {
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
  }
  while (::sendmsg(socket, &message, MSG_NOSIGNAL) < 0) {
    if (errno != EINTR) {
      throw_errno("sendmsg with SCM_RIGHTS");
    }
  }
}

std::size_t receive_fds(int socket, std::vector<UniqueFd>& fds, std::size_t max_fds,
                        std::span<std::byte> data) {
  std::vector<char> control(CMSG_SPACE(sizeof(int) * max_fds));
  iovec iov{data.data(), data.size()};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control.data();
  message.msg_controllen = control.size();
  ssize_t received = 0;
  do {
    received = ::recvmsg(socket, &message, MSG_CMSG_CLOEXEC);
  } while (received < 0 && errno == EINTR);
  if (received < 0) {
    throw_errno("recvmsg with SCM_RIGHTS");
  }
  for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
       header = CMSG_NXTHDR(&message, header)) {
    if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) {
      continue;
    }
    std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < count; ++i) {
      int fd = -1;
      std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
      fds.emplace_back(fd);
    }
  }
  if (message.msg_flags & MSG_CTRUNC) {
    fds.clear();
    throw errno_error(EMSGSIZE, fmt::format("more than {} descriptors in one message", max_fds));
  }
  return static_cast<std::size_t>(received);
}

std::optional<RemoteDescriptor> parse_fdinfo(std::string_view text) noexcept {
  // "flags:\t02000002" is octal and includes O_CLOEXEC when the descriptor has FD_CLOEXEC;
  // "ino:\t7722338" is decimal.
  auto field = [&](std::string_view name, int base) -> std::optional<unsigned long> {
    std::size_t at = text.find(name);
    if (at == std::string_view::npos || (at > 0 && text[at - 1] != '\n')) {
      return std::nullopt;
    }
    std::string digits(text.substr(at + name.size(), 24));
    return std::strtoul(digits.c_str(), nullptr, base);
  };
  auto flags = field("flags:", 8);
  auto inode = field("ino:", 10);
  if (!flags || !inode) {
    return std::nullopt;
  }
  return RemoteDescriptor{(*flags & O_CLOEXEC) != 0, static_cast<ino_t>(*inode)};
}

}  // namespace sockgate
