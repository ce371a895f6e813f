// errno-matrix: the errno of connect() and bind() for invalid descriptors, pointers, lengths and
// families, and for sockets in unusual states. The tests compare it with the same program on
// the host, where only the kernel handles the calls.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>

#include "common.hpp"

namespace attacker {
namespace {

int call_errno(int result) { return result == 0 ? 0 : errno; }

int tcp_socket(int family = AF_INET) { return socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0); }

// A sockaddr_in whose last 8 bytes lie on an unmapped page.
const sockaddr* straddling_address(const Target& target) {
  auto* pages = static_cast<char*>(mmap(nullptr, 8192, PROT_READ | PROT_WRITE,
                                        MAP_PRIVATE | MAP_ANONYMOUS, -1, 0));
  munmap(pages + 4096, 4096);
  char* start = pages + 4096 - 8;
  std::memcpy(start, &target.storage, 8);
  return reinterpret_cast<const sockaddr*>(start);
}

Target with_family(const Target& target, int family) {
  Target changed = target;
  changed.storage.ss_family = static_cast<sa_family_t>(family);
  return changed;
}

// Every case: name and the call that returns its errno.
std::vector<std::pair<std::string, std::function<int()>>> cases(const Target& echo,
                                                                 const Target& echo6) {
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  const auto* bad_pointer = reinterpret_cast<const sockaddr*>(8);
  Target any = parse_target("0.0.0.0", "0");
  Target mapped = parse_target("::ffff:" + std::string("127.0.0.1"), "1");
  return {
      {"connect_bad_fd", [=] { return call_errno(connect(-1, echo.get(), echo.length)); }},
      {"connect_unused_fd", [=] { return call_errno(connect(900, echo.get(), echo.length)); }},
      {"connect_not_socket",
       [=] { return call_errno(connect(devnull, echo.get(), echo.length)); }},
      {"connect_bad_fd_bad_pointer",
       [=] { return call_errno(connect(-1, bad_pointer, 16)); }},
      {"connect_bad_fd_huge_length",
       [=] { return call_errno(connect(-1, echo.get(), 1000)); }},
      {"connect_not_socket_bad_pointer",
       [=] { return call_errno(connect(devnull, bad_pointer, 16)); }},
      {"connect_bad_pointer", [=] { return call_errno(connect(tcp_socket(), bad_pointer, 16)); }},
      {"connect_straddling_page",
       [=] { return call_errno(connect(tcp_socket(), straddling_address(echo), 16)); }},
      {"connect_length_1000", [=] { return call_errno(connect(tcp_socket(), echo.get(), 1000)); }},
      {"connect_length_129", [=] { return call_errno(connect(tcp_socket(), echo.get(), 129)); }},
      {"connect_length_128", [=] { return call_errno(connect(tcp_socket(), echo.get(), 128)); }},
      {"connect_length_negative",
       [=] { return call_errno(connect(tcp_socket(), echo.get(), static_cast<socklen_t>(-1))); }},
      {"connect_length_0", [=] { return call_errno(connect(tcp_socket(), echo.get(), 0)); }},
      {"connect_length_8", [=] { return call_errno(connect(tcp_socket(), echo.get(), 8)); }},
      {"connect_null_length_0", [=] { return call_errno(connect(tcp_socket(), nullptr, 0)); }},
      {"connect_inet6_on_inet",
       [=] { return call_errno(connect(tcp_socket(), echo6.get(), echo6.length)); }},
      {"connect_inet_on_inet6",
       [=] {
         Target as_v4 = with_family(echo6, AF_INET);
         return call_errno(connect(tcp_socket(AF_INET6), as_v4.get(), as_v4.length));
       }},
      {"connect_unix_family_on_inet",
       [=] {
         Target as_unix = with_family(echo, AF_UNIX);
         return call_errno(connect(tcp_socket(), as_unix.get(), as_unix.length));
       }},
      {"connect_unspec_fresh_tcp",
       [=] {
         Target unspec = with_family(echo, AF_UNSPEC);
         return call_errno(connect(tcp_socket(), unspec.get(), unspec.length));
       }},
      {"connect_unspec_fresh_udp",
       [=] {
         Target unspec = with_family(echo, AF_UNSPEC);
         int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
         return call_errno(connect(fd, unspec.get(), unspec.length));
       }},
      {"connect_unspec_length_2",
       [=] {
         Target unspec = with_family(echo, AF_UNSPEC);
         return call_errno(connect(tcp_socket(), unspec.get(), 2));
       }},
      {"connect_unspec_after_connect",
       [=] {
         int fd = tcp_socket();
         connect(fd, echo.get(), echo.length);
         Target unspec = with_family(echo, AF_UNSPEC);
         return call_errno(connect(fd, unspec.get(), unspec.length));
       }},
      {"connect_twice",
       [=] {
         int fd = tcp_socket();
         connect(fd, echo.get(), echo.length);
         return call_errno(connect(fd, echo.get(), echo.length));
       }},
      {"connect_mapped_v6only",
       [=] {
         int fd = tcp_socket(AF_INET6);
         int on = 1;
         setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
         return call_errno(connect(fd, mapped.get(), mapped.length));
       }},
      {"bind_bad_fd", [=] { return call_errno(bind(-1, any.get(), any.length)); }},
      {"bind_bad_pointer", [=] { return call_errno(bind(tcp_socket(), bad_pointer, 16)); }},
      {"bind_length_1000", [=] { return call_errno(bind(tcp_socket(), any.get(), 1000)); }},
      {"bind_length_8", [=] { return call_errno(bind(tcp_socket(), any.get(), 8)); }},
      {"bind_unspec_any",
       [=] {
         Target unspec = with_family(any, AF_UNSPEC);
         return call_errno(bind(tcp_socket(), unspec.get(), unspec.length));
       }},
      {"bind_unspec_not_any",
       [=] {
         Target unspec = with_family(echo, AF_UNSPEC);
         return call_errno(bind(tcp_socket(), unspec.get(), unspec.length));
       }},
      {"bind_inet6_on_inet",
       [=] { return call_errno(bind(tcp_socket(), echo6.get(), echo6.length)); }},
      {"bind_twice",
       [=] {
         int fd = tcp_socket();
         bind(fd, any.get(), any.length);
         return call_errno(bind(fd, any.get(), any.length));
       }},
      {"bind_after_connect",
       [=] {
         int fd = tcp_socket();
         connect(fd, echo.get(), echo.length);
         return call_errno(bind(fd, any.get(), any.length));
       }},
  };
}

}  // namespace

// errno-matrix HOST4 PORT HOST6: HOST4:PORT and [HOST6]:PORT accept TCP connections.
json scenario_errno_matrix(const std::vector<std::string>& args) {
  Target echo = parse_target(args.at(0), args.at(1));
  Target echo6 = parse_target(args.at(2), args.at(1));
  json report = json::object();
  for (const auto& [name, call] : cases(echo, echo6)) {
    report[name] = errno_name(call());
  }
  return report;
}

// connect-listening HOST PORT: connect() on a socket that listens already. The kernel returns
// EISCONN and the socket keeps listening.
json scenario_connect_listening(const std::vector<std::string>& args) {
  Target target = parse_target(args.at(0), args.at(1));
  int fd = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Target local = parse_target(target.family == AF_INET ? "127.0.0.1" : "::1", "0");
  json report;
  report["bind"] = errno_name(call_errno(bind(fd, local.get(), local.length)));
  report["listen"] = errno_name(call_errno(listen(fd, 4)));
  report["connect"] = errno_name(connect_errno(fd, target));
  int listening = 0;
  socklen_t length = sizeof listening;
  getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length);
  report["still_listening"] = listening == 1;
  report["peer"] = peer_of(fd);
  return report;
}

}  // namespace attacker
