// sockgate-probe: runs one socket scenario and prints what it observed as one JSON object.
//
// The kernel tests run it under `sockgate run` (and directly on the host, for comparison) and
// assert on its output. A socket counts as bypassed when its network namespace (SO_NETNS_COOKIE)
// differs from the one of a socket the probe makes itself.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

namespace {

using nlohmann::json;

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

struct Target {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;
};

Target parse_target(const std::string& host, const std::string& port) {
  Target target;
  auto number = static_cast<std::uint16_t>(std::stoi(port));
  auto* in = reinterpret_cast<sockaddr_in*>(&target.storage);
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&target.storage);
  if (inet_pton(AF_INET, host.c_str(), &in->sin_addr) == 1) {
    in->sin_family = AF_INET;
    in->sin_port = htons(number);
    target.length = sizeof(sockaddr_in);
    target.family = AF_INET;
  } else if (inet_pton(AF_INET6, host.c_str(), &in6->sin6_addr) == 1) {
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(number);
    target.length = sizeof(sockaddr_in6);
    target.family = AF_INET6;
  } else {
    std::fprintf(stderr, "sockgate-probe: invalid address '%s'\n", host.c_str());
    std::exit(2);
  }
  return target;
}

std::string errno_name(int error) {
  static const std::map<int, std::string> names = {
      {0, "0"},
      {EINPROGRESS, "EINPROGRESS"},
      {ECONNREFUSED, "ECONNREFUSED"},
      {EHOSTUNREACH, "EHOSTUNREACH"},
      {ENETUNREACH, "ENETUNREACH"},
      {ETIMEDOUT, "ETIMEDOUT"},
      {EACCES, "EACCES"},
      {EPERM, "EPERM"},
      {EADDRINUSE, "EADDRINUSE"},
      {EISCONN, "EISCONN"},
      {EALREADY, "EALREADY"},
      {EINVAL, "EINVAL"},
      {EFAULT, "EFAULT"},
      {EAFNOSUPPORT, "EAFNOSUPPORT"},
      {EBADF, "EBADF"},
      {ENOTSOCK, "ENOTSOCK"},
      {EINTR, "EINTR"},
  };
  auto found = names.find(error);
  return found != names.end() ? found->second : std::to_string(error);
}

std::uint64_t netns_of(int fd) {
  std::uint64_t cookie = 0;
  socklen_t length = sizeof cookie;
  getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &length);
  return cookie;
}

bool bypassed(int fd) {
  int probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  bool differs = netns_of(fd) != netns_of(probe);
  close(probe);
  return differs;
}

int connect_errno(int fd, const Target& target) {
  return connect(fd, reinterpret_cast<const sockaddr*>(&target.storage), target.length) == 0
             ? 0
             : errno;
}

int wait_writable(int fd, int milliseconds) {
  pollfd entry{fd, POLLOUT, 0};
  if (poll(&entry, 1, milliseconds) != 1) {
    return ETIMEDOUT;
  }
  int error = 0;
  socklen_t length = sizeof error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  return error;
}

// Sends a line and reads the echo back, proving the connection carries data.
bool echo_roundtrip(int fd) {
  const char message[] = "sockgate-probe\n";
  if (send(fd, message, sizeof message - 1, MSG_NOSIGNAL) != sizeof message - 1) {
    return false;
  }
  char buffer[64] = {};
  std::size_t received = 0;
  while (received < sizeof message - 1) {
    ssize_t length = recv(fd, buffer + received, sizeof buffer - received, 0);
    if (length <= 0) {
      return false;
    }
    received += static_cast<std::size_t>(length);
  }
  return std::memcmp(buffer, message, sizeof message - 1) == 0;
}

json connect_report(int fd, int error) {
  json report = {{"errno", errno_name(error)}};
  if (error == 0) {
    report["bypassed"] = bypassed(fd);
    report["echo"] = echo_roundtrip(fd);
  }
  return report;
}

// socket(SOCK_NONBLOCK | SOCK_CLOEXEC), connect, then the flags and whether exec inherits it.
json scenario_flags(const Target& target, const char* self) {
  int fd = socket(target.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int error = connect_errno(fd, target);
  json report = {{"connect_errno", errno_name(error)}};
  report["completion_errno"] = errno_name(wait_writable(fd, 5000));
  report["nonblock"] = (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
  report["cloexec"] = (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
  report["bypassed"] = bypassed(fd);
  int flags = fcntl(fd, F_GETFL);
  fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  report["echo"] = echo_roundtrip(fd);
  pid_t child = fork();
  if (child == 0) {
    std::string number = std::to_string(fd);
    execl(self, self, "fd-open", number.c_str(), nullptr);
    _exit(3);
  }
  int status = 0;
  waitpid(child, &status, 0);
  // fd-open exits 0 when the descriptor is open in the new program, 1 when it is not.
  report["inherited_across_exec"] = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return report;
}

// socket(), fcntl(O_NONBLOCK), connect: EINPROGRESS, then writable.
json scenario_fcntl_nonblock(const Target& target) {
  int fd = socket(target.family, SOCK_STREAM, 0);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  json report = {{"connect_errno", errno_name(connect_errno(fd, target))}};
  report["completion_errno"] = errno_name(wait_writable(fd, 5000));
  report["nonblock"] = (fcntl(fd, F_GETFL) & O_NONBLOCK) != 0;
  report["cloexec"] = (fcntl(fd, F_GETFD) & FD_CLOEXEC) != 0;
  report["bypassed"] = bypassed(fd);
  return report;
}

struct IntOption {
  const char* name;
  int level;
  int option;
  int value;
};

// Sets options before a blocking connect and reads them back after it.
json scenario_options(const Target& target) {
  int fd = socket(target.family, SOCK_STREAM, 0);
  std::vector<IntOption> options = {
      {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR, 1},
      {"SO_REUSEPORT", SOL_SOCKET, SO_REUSEPORT, 1},
      {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE, 1},
      {"SO_PRIORITY", SOL_SOCKET, SO_PRIORITY, 5},
      {"SO_SNDBUF", SOL_SOCKET, SO_SNDBUF, 65536},
      {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF, 98304},
      {"SO_OOBINLINE", SOL_SOCKET, SO_OOBINLINE, 1},
      {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY, 1},
      {"TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE, 33},
      {"TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL, 7},
      {"TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT, 4},
      {"TCP_USER_TIMEOUT", IPPROTO_TCP, TCP_USER_TIMEOUT, 12345},
      {"TCP_NOTSENT_LOWAT", IPPROTO_TCP, TCP_NOTSENT_LOWAT, 131072},
      {"TCP_SYNCNT", IPPROTO_TCP, TCP_SYNCNT, 3},
      {"TCP_WINDOW_CLAMP", IPPROTO_TCP, TCP_WINDOW_CLAMP, 200000},
  };
  if (target.family == AF_INET) {
    options.push_back({"IP_TOS", IPPROTO_IP, IP_TOS, 0x10});
    options.push_back({"IP_TTL", IPPROTO_IP, IP_TTL, 42});
  } else {
    options.push_back({"IPV6_TCLASS", IPPROTO_IPV6, IPV6_TCLASS, 0x20});
    options.push_back({"IPV6_UNICAST_HOPS", IPPROTO_IPV6, IPV6_UNICAST_HOPS, 42});
  }
  for (const IntOption& option : options) {
    setsockopt(fd, option.level, option.option, &option.value, sizeof option.value);
  }
  linger linger_value{1, 7};
  setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger_value, sizeof linger_value);
  timeval timeout{3, 500000};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  const char congestion[] = "reno";
  setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, congestion, sizeof congestion - 1);

  // Read after every option is set: some change others (IP_TOS sets SO_PRIORITY).
  auto read_all = [&] {
    json values = json::object();
    for (const IntOption& option : options) {
      int value = 0;
      socklen_t length = sizeof value;
      getsockopt(fd, option.level, option.option, &value, &length);
      values[option.name] = value;
    }
    return values;
  };
  json report = {{"before", read_all()}};
  report["connect_errno"] = errno_name(connect_errno(fd, target));
  report["bypassed"] = bypassed(fd);
  report["after"] = read_all();
  linger linger_after{};
  socklen_t length = sizeof linger_after;
  getsockopt(fd, SOL_SOCKET, SO_LINGER, &linger_after, &length);
  report["linger"] = {linger_after.l_onoff, linger_after.l_linger};
  timeval receive{};
  timeval send_timeout{};
  length = sizeof receive;
  getsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &receive, &length);
  length = sizeof send_timeout;
  getsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &send_timeout, &length);
  report["rcvtimeo_ms"] = receive.tv_sec * 1000 + receive.tv_usec / 1000;
  report["sndtimeo_ms"] = send_timeout.tv_sec * 1000 + send_timeout.tv_usec / 1000;
  char name[16] = {};
  length = sizeof name;
  getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &length);
  report["congestion"] = std::string(name);
  return report;
}

// Binds a local port, connects, and reports the local port the connection uses.
json scenario_bind_then_connect(const Target& target, int port) {
  int fd = socket(target.family, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage local{};
  socklen_t local_length = 0;
  if (target.family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&local);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<std::uint16_t>(port));
    local_length = sizeof *in;
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&local);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<std::uint16_t>(port));
    local_length = sizeof *in6;
  }
  int bound = bind(fd, reinterpret_cast<sockaddr*>(&local), local_length);
  json report = {{"bind_errno", errno_name(bound == 0 ? 0 : errno)}};
  int error = connect_errno(fd, target);
  report.update(connect_report(fd, error));
  sockaddr_storage name{};
  socklen_t length = sizeof name;
  getsockname(fd, reinterpret_cast<sockaddr*>(&name), &length);
  report["local_port"] = ntohs(reinterpret_cast<sockaddr_in*>(&name)->sin_port);
  return report;
}

// Connects from a second thread, and from a forked child, with blocking sockets.
json scenario_thread_and_fork(const Target& target) {
  json report;
  std::thread([&] {
    int fd = socket(target.family, SOCK_STREAM, 0);
    report["thread"] = connect_report(fd, connect_errno(fd, target));
    close(fd);
  }).join();
  int pipe_fds[2];
  pipe(pipe_fds);
  pid_t child = fork();
  if (child == 0) {
    int fd = socket(target.family, SOCK_STREAM, 0);
    std::string text = connect_report(fd, connect_errno(fd, target)).dump();
    write(pipe_fds[1], text.data(), text.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string text;
  char buffer[512];
  ssize_t length = 0;
  while ((length = read(pipe_fds[0], buffer, sizeof buffer)) > 0) {
    text.append(buffer, static_cast<std::size_t>(length));
  }
  waitpid(child, nullptr, 0);
  report["fork"] = json::parse(text);
  return report;
}

// A blocking connect's errno.
json scenario_errno(const Target& target) {
  int fd = socket(target.family, SOCK_STREAM, 0);
  return {{"errno", errno_name(connect_errno(fd, target))}};
}

// A blocking connect to a black-holed address in one thread, then a second connection from the
// main thread: how long the second one took.
json scenario_blackhole(const Target& blackhole, const Target& target) {
  std::thread([&] {
    int fd = socket(blackhole.family, SOCK_STREAM, 0);
    connect_errno(fd, blackhole);
  }).detach();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto start = std::chrono::steady_clock::now();
  int fd = socket(target.family, SOCK_STREAM, 0);
  json report = connect_report(fd, connect_errno(fd, target));
  report["second_connect_ms"] =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                            start)
          .count();
  std::fflush(stdout);
  return report;
}

int listen_on(int family, const char* address, int port) {
  int fd = socket(family, SOCK_STREAM, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_storage local{};
  socklen_t length = 0;
  if (family == AF_INET6) {
    int zero = 0;
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&local);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET6, address, &in6->sin6_addr);
    length = sizeof *in6;
  } else {
    auto* in = reinterpret_cast<sockaddr_in*>(&local);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<std::uint16_t>(port));
    inet_pton(AF_INET, address, &in->sin_addr);
    length = sizeof *in;
  }
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), length) != 0 || listen(fd, 16) != 0) {
    return -errno;
  }
  return fd;
}

// Echoes lines on connections accepted from `listener` until `count` connections have closed.
void serve_echo(int listener, int count) {
  for (int served = 0; served < count; ++served) {
    int client = accept(listener, nullptr, nullptr);
    if (client < 0) {
      return;
    }
    char buffer[4096];
    ssize_t length = 0;
    while ((length = recv(client, buffer, sizeof buffer, 0)) > 0) {
      send(client, buffer, static_cast<std::size_t>(length), MSG_NOSIGNAL);
    }
    close(client);
  }
}

// Listens on [::]:PORT and echoes for `count` connections; prints "listening" first so the test
// knows when to connect from the host.
json scenario_serve(int port, int count) {
  int listener = listen_on(AF_INET6, "::", port);
  if (listener < 0) {
    return {{"listen_errno", errno_name(-listener)}};
  }
  std::printf("{\"listening\": true, \"bypassed\": %s}\n", bypassed(listener) ? "true" : "false");
  std::fflush(stdout);
  serve_echo(listener, count);
  return {{"served", count}};
}

// Listens on [::]:PORT, then connects to HOST:PORT itself, as a health check does.
json scenario_health_check(const Target& target, int port) {
  int listener = listen_on(AF_INET6, "::", port);
  if (listener < 0) {
    return {{"listen_errno", errno_name(-listener)}};
  }
  std::thread server([listener] { serve_echo(listener, 1); });
  int fd = socket(target.family, SOCK_STREAM, 0);
  json report = connect_report(fd, connect_errno(fd, target));
  close(fd);
  server.join();
  return report;
}

// Opens connections in a loop for `seconds`, each checked with an echo, and prints one line per
// connection with its start time (CLOCK_MONOTONIC, shared with the host), errno and whether it
// was bypassed.
json scenario_connect_loop(const Target& target, int seconds) {
  auto end = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int count = 0;
  while (std::chrono::steady_clock::now() < end) {
    timespec now{};
    clock_gettime(CLOCK_MONOTONIC, &now);
    int fd = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    json line = connect_report(fd, connect_errno(fd, target));
    line["start_ns"] = static_cast<std::int64_t>(now.tv_sec) * 1000000000 + now.tv_nsec;
    close(fd);
    std::printf("%s\n", line.dump().c_str());
    std::fflush(stdout);
    ++count;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return {{"connections", count}};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) {
    std::fprintf(stderr, "usage: sockgate-probe SCENARIO ARGS...\n");
    return 2;
  }
  const std::string& scenario = args[0];
  if (scenario == "fd-open") {
    return fcntl(std::stoi(args.at(1)), F_GETFD) >= 0 ? 0 : 1;
  }
  json report;
  if (scenario == "flags") {
    report = scenario_flags(parse_target(args.at(1), args.at(2)), argv[0]);
  } else if (scenario == "fcntl-nonblock") {
    report = scenario_fcntl_nonblock(parse_target(args.at(1), args.at(2)));
  } else if (scenario == "options") {
    report = scenario_options(parse_target(args.at(1), args.at(2)));
  } else if (scenario == "bind-then-connect") {
    report = scenario_bind_then_connect(parse_target(args.at(1), args.at(2)), std::stoi(args.at(3)));
  } else if (scenario == "thread-and-fork") {
    report = scenario_thread_and_fork(parse_target(args.at(1), args.at(2)));
  } else if (scenario == "errno") {
    report = scenario_errno(parse_target(args.at(1), args.at(2)));
  } else if (scenario == "blackhole") {
    report = scenario_blackhole(parse_target(args.at(1), args.at(2)),
                                parse_target(args.at(3), args.at(4)));
  } else if (scenario == "connect-loop") {
    report = scenario_connect_loop(parse_target(args.at(1), args.at(2)), std::stoi(args.at(3)));
  } else if (scenario == "serve") {
    report = scenario_serve(std::stoi(args.at(1)), std::stoi(args.at(2)));
  } else if (scenario == "health-check") {
    report = scenario_health_check(parse_target(args.at(1), args.at(2)), std::stoi(args.at(2)));
  } else {
    std::fprintf(stderr, "sockgate-probe: unknown scenario '%s'\n", scenario.c_str());
    return 2;
  }
  std::printf("%s\n", report.dump().c_str());
  std::fflush(stdout);
  // The black-hole scenario leaves a thread blocked in connect; do not wait for it.
  _exit(0);
}
