// The filter notifies connect and bind and nothing else: a child installs it and makes many other
// socket and descriptor calls while this test counts the notifications it receives.
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "core/kernel.hpp"
#include "core/seccomp_filter.hpp"

namespace sockgate {
namespace {

// Calls that must not be notified, then one connect and one bind.
[[noreturn]] void exercise_socket_calls() {
  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int tcp = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  socklen_t length = sizeof one;
  getsockopt(tcp, SOL_SOCKET, SO_TYPE, &one, &length);
  fcntl(tcp, F_SETFL, fcntl(tcp, F_GETFL) | O_NONBLOCK);
  int copy = dup(tcp);
  close(copy);
  sockaddr_in loopback{};
  loopback.sin_family = AF_INET;
  loopback.sin_port = htons(9);
  loopback.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const char byte = 'x';
  sendto(udp, &byte, 1, MSG_DONTWAIT, reinterpret_cast<sockaddr*>(&loopback), sizeof loopback);
  iovec iov{const_cast<char*>(&byte), 1};
  msghdr message{};
  message.msg_name = &loopback;
  message.msg_namelen = sizeof loopback;
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  sendmsg(udp, &message, MSG_DONTWAIT);
  char buffer[8];
  recvfrom(udp, buffer, sizeof buffer, MSG_DONTWAIT, nullptr, nullptr);
  listen(tcp, 1);
  accept4(tcp, nullptr, nullptr, SOCK_NONBLOCK);
  getsockname(tcp, reinterpret_cast<sockaddr*>(&loopback), &length);
  shutdown(udp, SHUT_RDWR);
  int pair[2];
  socketpair(AF_UNIX, SOCK_STREAM, 0, pair);
  write(pair[0], &byte, 1);
  read(pair[1], buffer, 1);

  int client = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  connect(client, reinterpret_cast<sockaddr*>(&loopback), sizeof loopback);
  int server = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  loopback.sin_port = 0;
  bind(server, reinterpret_cast<sockaddr*>(&loopback), sizeof loopback);
  _exit(0);
}

TEST(FilterKernelTest, NotifiesOnlyConnectAndBind) {
  int pair[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    close(pair[0]);
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
    UniqueFd listener = install_socket_filter();
    int fd = listener.get();
    send_fds(pair[1], std::span(&fd, 1), {});
    listener.reset();
    char go = 0;
    recv(pair[1], &go, 1, 0);
    exercise_socket_calls();
  }
  close(pair[1]);
  std::vector<UniqueFd> fds;
  receive_fds(pair[0], fds, 1, {});
  ASSERT_EQ(fds.size(), 1U);
  int listener = fds.front().get();
  const char go = 'G';
  send(pair[0], &go, 1, 0);
  close(pair[0]);

  std::map<std::string, int> notified;
  for (;;) {
    pollfd entry{listener, POLLIN, 0};
    ASSERT_GT(poll(&entry, 1, 10000), 0) << "no notification and no hang-up within 10 s";
    if (entry.revents & POLLHUP) {
      break;
    }
    seccomp_notif notification{};
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notification) != 0) {
      continue;
    }
    auto call = decode_socket_call(notification.data);
    std::string name = !call                                        ? "other"
                       : call->operation == rules::Operation::bind ? "bind"
                                                                    : "connect";
    ++notified[name];
    seccomp_notif_resp response{};
    response.id = notification.id;
    response.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
    ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &response);
  }
  int status = 0;
  waitpid(child, &status, 0);
  EXPECT_EQ(status, 0);
  EXPECT_EQ(notified["connect"], 1);
  EXPECT_EQ(notified["bind"], 1);
  EXPECT_EQ(notified["other"], 0);
}

}  // namespace
}  // namespace sockgate
