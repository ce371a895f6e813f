// sockgate-attacker: hostile socket scenarios for the attack tests. Usage:
//   sockgate-attacker SCENARIO ARGS...
// It prints one JSON object on the last line of standard output and exits 0; exit status 2
// means invalid arguments.
#include <arpa/inet.h>
#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>

#include "common.hpp"

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

namespace attacker {

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
    std::fprintf(stderr, "sockgate-attacker: invalid address '%s'\n", host.c_str());
    std::exit(2);
  }
  return target;
}

Target loopback4(int port) { return parse_target("127.0.0.1", std::to_string(port)); }

std::string errno_name(int error) {
  if (error == 0) {
    return "0";
  }
  const char* name = strerrorname_np(error);
  return name != nullptr ? name : std::to_string(error);
}

int connect_errno(int fd, const Target& target) {
  return connect(fd, target.get(), target.length) == 0 ? 0 : errno;
}

namespace {

std::uint64_t netns_cookie(int fd) {
  std::uint64_t cookie = 0;
  socklen_t length = sizeof cookie;
  getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &length);
  return cookie;
}

long status_field(const std::string& path, const std::string& field) {
  std::ifstream file(path);
  std::string line;
  while (std::getline(file, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::stol(line.substr(field.size() + 1));
    }
  }
  return 0;
}

}  // namespace

bool bypassed(int fd) {
  int probe = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  bool other = netns_cookie(fd) != netns_cookie(probe);
  close(probe);
  return other;
}

std::string peer_of(int fd) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (getpeername(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return "";
  }
  char text[INET6_ADDRSTRLEN] = {};
  if (storage.ss_family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    inet_ntop(AF_INET, &in->sin_addr, text, sizeof text);
    return std::string(text) + ":" + std::to_string(ntohs(in->sin_port));
  }
  auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
  inet_ntop(AF_INET6, &in6->sin6_addr, text, sizeof text);
  return "[" + std::string(text) + "]:" + std::to_string(ntohs(in6->sin6_port));
}

int wait_connected(int fd, int timeout_ms) {
  pollfd entry{fd, POLLOUT, 0};
  if (poll(&entry, 1, timeout_ms) <= 0) {
    return ETIMEDOUT;
  }
  int error = 0;
  socklen_t length = sizeof error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &length);
  return error;
}

double now_ms() {
  timespec now{};
  clock_gettime(CLOCK_MONOTONIC, &now);
  return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

GatewayUsage gateway_usage() {
  std::string proc = "/proc/" + std::to_string(getppid());
  GatewayUsage usage;
  std::error_code error;
  for (auto it = std::filesystem::directory_iterator(proc + "/fd", error);
       !error && it != std::filesystem::directory_iterator(); it.increment(error)) {
    ++usage.descriptors;
  }
  usage.threads = status_field(proc + "/status", "Threads");
  usage.rss_kib = status_field(proc + "/status", "VmRSS");
  return usage;
}

json to_json(const GatewayUsage& usage) {
  return {{"descriptors", usage.descriptors},
          {"threads", usage.threads},
          {"rss_kib", usage.rss_kib}};
}

}  // namespace attacker

int main(int argc, char** argv) {
  using namespace attacker;
  static const std::map<std::string, Scenario> scenarios = {
      {"race-address", scenario_race_address},
      {"fd-swap-race", scenario_fd_swap_race},
      {"fastopen-escape", scenario_fastopen_escape},
      {"publish-fastopen", scenario_publish_fastopen},
      {"uring-connect", scenario_uring_connect},
      {"uring-escape", scenario_uring_escape},
      {"udp-sendto", scenario_udp_sendto},
      {"int80-connect", scenario_int80_connect},
      {"errno-matrix", scenario_errno_matrix},
      {"signal-connect", scenario_signal_connect},
      {"replaced-fd", scenario_replaced_fd},
      {"connect-listening", scenario_connect_listening},
      {"concurrent-connect", scenario_concurrent_connect},
      {"kill-pending", scenario_kill_pending},
      {"many-blocking", scenario_many_blocking},
      {"short-connections", scenario_short_connections},
      {"fork-storm", scenario_fork_storm},
      {"hup-storm", scenario_hup_storm},
      {"waiters", scenario_waiters},
      {"connect-states", scenario_connect_states},
      {"abi-fastopen", scenario_abi_fastopen},
  };
  if (argc < 2 || scenarios.find(argv[1]) == scenarios.end()) {
    std::fprintf(stderr, "usage: sockgate-attacker SCENARIO ARGS...; scenarios:");
    for (const auto& [name, scenario] : scenarios) {
      std::fprintf(stderr, " %s", name.c_str());
    }
    std::fprintf(stderr, "\n");
    return 2;
  }
  std::vector<std::string> args(argv + 2, argv + argc);
  json report;
  try {
    report = scenarios.at(argv[1])(args);
  } catch (const std::out_of_range&) {
    std::fprintf(stderr, "sockgate-attacker: %s: missing arguments\n", argv[1]);
    return 2;
  }
  std::printf("%s\n", report.dump().c_str());
  std::fflush(stdout);
  // Some scenarios leave threads blocked in connect(); do not wait for them.
  _exit(0);
}
