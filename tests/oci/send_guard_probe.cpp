// sockgate-send-guard-probe: checks, inside a container, the calls that the profile fails
// because they open connections without connect(). It prints one JSON object with the errno
// (0: success) of sendto and sendmsg with MSG_FASTOPEN on a TCP socket, of io_uring_setup, and
// of a plain UDP sendto, all to 127.0.0.1 on the port given as the only argument.
#include <arpa/inet.h>
#include <linux/io_uring.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

sockaddr_in loopback(int port) {
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return address;
}

// Returns 0 or the errno of one send of one byte on a new socket of `type`.
int send_errno(int type, int use_sendmsg, int flags, int port) {
  sockaddr_in address = loopback(port);
  int fd = socket(AF_INET, type, 0);
  if (fd < 0) {
    return errno;
  }
  char byte = 'x';
  iovec vector{&byte, 1};
  msghdr message{};
  message.msg_name = &address;
  message.msg_namelen = sizeof address;
  message.msg_iov = &vector;
  message.msg_iovlen = 1;
  ssize_t sent = use_sendmsg ? sendmsg(fd, &message, flags)
                             : sendto(fd, &byte, 1, flags, reinterpret_cast<sockaddr*>(&address),
                                      sizeof address);
  int result = sent < 0 ? errno : 0;
  close(fd);
  return result;
}

int io_uring_setup_errno() {
  io_uring_params params{};
  long fd = syscall(SYS_io_uring_setup, 4, &params);
  if (fd < 0) {
    return errno;
  }
  close(static_cast<int>(fd));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s PORT\n", argv[0]);
    return 2;
  }
  int port = std::atoi(argv[1]);
  std::printf(
      "{\"sendto_fastopen\": %d, \"sendmsg_fastopen\": %d, \"io_uring_setup\": %d, "
      "\"sendto\": %d}\n",
      send_errno(SOCK_STREAM, 0, MSG_FASTOPEN, port),
      send_errno(SOCK_STREAM, 1, MSG_FASTOPEN, port), io_uring_setup_errno(),
      send_errno(SOCK_DGRAM, 0, 0, port));
  return 0;
}
