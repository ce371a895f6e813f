// connect-states: connect() on TCP sockets in each state past CLOSE (listening, connecting,
// connected, half-closed) and right after a state change, with the errno and state it leaves.
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>

#include "common.hpp"

namespace attacker {
namespace {

int state_of(int fd) {
  tcp_info info{};
  socklen_t length = sizeof info;
  return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) == 0 ? info.tcpi_state : -1;
}

std::string attempt(int fd, const Target& target) { return errno_name(connect_errno(fd, target)); }

// Waits for POLLOUT without reading SO_ERROR, so the pending error stays on the socket.
void wait_writable(int fd) {
  pollfd entry{fd, POLLOUT, 0};
  poll(&entry, 1, 3000);
}

int tcp_socket(int family, bool blocking) {
  return socket(family, SOCK_STREAM | SOCK_CLOEXEC | (blocking ? 0 : SOCK_NONBLOCK), 0);
}

json finish(int fd, json report) {
  report["state"] = state_of(fd);
  report["peer"] = peer_of(fd);
  close(fd);
  return report;
}

json listening(const Target& echo) {
  int fd = tcp_socket(echo.family, true);
  json report{{"listen", listen(fd, 4) == 0 ? "0" : errno_name(errno)}};
  report["connect"] = attempt(fd, echo);
  return finish(fd, report);
}

json connecting(const Target& blackhole, const Target& echo) {
  int fd = tcp_socket(echo.family, false);
  json report{{"first", attempt(fd, blackhole)}};
  report["again"] = attempt(fd, blackhole);
  report["other"] = attempt(fd, echo);
  return finish(fd, report);
}

json connected_nonblocking(const Target& echo, const Target& other) {
  int fd = tcp_socket(echo.family, false);
  json report{{"first", attempt(fd, echo)}};
  wait_writable(fd);
  report["second"] = attempt(fd, echo);
  report["third"] = attempt(fd, echo);
  report["other"] = attempt(fd, other);
  return finish(fd, report);
}

json connected_blocking(const Target& echo, const Target& other) {
  int fd = tcp_socket(echo.family, true);
  json report{{"first", attempt(fd, echo)}};
  report["second"] = attempt(fd, echo);
  report["other"] = attempt(fd, other);
  return finish(fd, report);
}

json half_closed(const Target& echo, int how) {
  int fd = tcp_socket(echo.family, true);
  json report{{"first", attempt(fd, echo)}};
  report["shutdown"] = shutdown(fd, how) == 0 ? "0" : errno_name(errno);
  usleep(100 * 1000);
  report["state_before"] = state_of(fd);
  report["again"] = attempt(fd, echo);
  return finish(fd, report);
}

// shutdown() of a connecting socket disconnects it; connect() then starts anew.
json connecting_shut(const Target& blackhole, const Target& echo) {
  int fd = tcp_socket(echo.family, false);
  json report{{"first", attempt(fd, blackhole)}};
  report["shutdown"] = shutdown(fd, SHUT_RDWR) == 0 ? "0" : errno_name(errno);
  report["state_before"] = state_of(fd);
  report["again"] = attempt(fd, echo);
  wait_writable(fd);
  return finish(fd, report);
}

json refused_retry(const Target& refused, bool read_error) {
  int fd = tcp_socket(refused.family, false);
  json report{{"first", attempt(fd, refused)}};
  wait_writable(fd);
  if (read_error) {
    int error = 0;
    socklen_t length = sizeof error;
    getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
    report["so_error"] = errno_name(error);
  }
  report["second"] = attempt(fd, refused);
  report["third"] = attempt(fd, refused);
  wait_writable(fd);
  return finish(fd, report);
}

json disconnected(const Target& echo) {
  int fd = tcp_socket(echo.family, true);
  json report{{"first", attempt(fd, echo)}};
  sockaddr unspec{};
  unspec.sa_family = AF_UNSPEC;
  report["unspec"] = connect(fd, &unspec, sizeof unspec) == 0 ? "0" : errno_name(errno);
  report["state_before"] = state_of(fd);
  report["again"] = attempt(fd, echo);
  return finish(fd, report);
}

}  // namespace

// connect-states HOST ECHO_PORT OTHER_PORT REFUSED_PORT BLACKHOLE: every case on a new socket of
// HOST's family; BLACKHOLE is an address of the same family that never replies.
json scenario_connect_states(const std::vector<std::string>& args) {
  Target echo = parse_target(args.at(0), args.at(1));
  Target other = parse_target(args.at(0), args.at(2));
  Target refused = parse_target(args.at(0), args.at(3));
  Target blackhole = parse_target(args.at(4), args.at(1));
  json report;
  report["listening"] = listening(echo);
  report["connecting"] = connecting(blackhole, echo);
  report["connected_nonblocking"] = connected_nonblocking(echo, other);
  report["connected_blocking"] = connected_blocking(echo, other);
  report["shut_wr"] = half_closed(echo, SHUT_WR);
  report["shut_rdwr"] = half_closed(echo, SHUT_RDWR);
  report["connecting_shut"] = connecting_shut(blackhole, echo);
  report["refused_retry"] = refused_retry(refused, false);
  report["refused_read_retry"] = refused_retry(refused, true);
  report["disconnected"] = disconnected(echo);
  return report;
}

}  // namespace attacker
