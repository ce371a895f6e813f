// abi-fastopen: TCP Fast Open sends made through the i386 (int 0x80) and x32 system call ABIs,
// which connect without a connect() call; and plain sends through them, which must still work.
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common.hpp"

namespace attacker {
namespace {

constexpr long kI386Socketcall = 102;
constexpr std::uint32_t kSysSendto = 11;
constexpr std::uint32_t kSysSendmsg = 16;
constexpr long kX32Bit = 0x40000000;

char* low_page() {
  void* page = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT,
                    -1, 0);
  return page == MAP_FAILED ? nullptr : static_cast<char*>(page);
}

long int80_socketcall(std::uint32_t call, const std::uint32_t* words) {
  long result = 0;
  asm volatile("int $0x80"
               : "=a"(result)
               : "a"(kI386Socketcall), "b"(static_cast<long>(call)),
                 "c"(reinterpret_cast<long>(words))
               : "memory", "r8", "r9", "r10", "r11");
  return result;
}

std::string result_name(long result) {
  return errno_name(result < 0 ? static_cast<int>(-result) : 0);
}

auto low32(const void* pointer) {
  return static_cast<std::uint32_t>(reinterpret_cast<std::uintptr_t>(pointer));
}

// socketcall(SYS_SENDTO) of the message in `low` to the address at low + 64.
long i386_sendto(int fd, char* low, const Target& to, int flags) {
  std::memcpy(low + 64, &to.storage, to.length);
  std::strcpy(low, "abi escape\n");
  auto* words = reinterpret_cast<std::uint32_t*>(low + 512);
  std::uint32_t values[6] = {static_cast<std::uint32_t>(fd), low32(low), 11,
                             static_cast<std::uint32_t>(flags), low32(low + 64), to.length};
  std::memcpy(words, values, sizeof values);
  return int80_socketcall(kSysSendto, words);
}

// socketcall(SYS_SENDMSG) with a 32-bit msghdr naming `to`.
long i386_sendmsg(int fd, char* low, const Target& to, int flags) {
  std::memcpy(low + 64, &to.storage, to.length);
  std::strcpy(low, "abi escape\n");
  auto* iov = reinterpret_cast<std::uint32_t*>(low + 256);
  iov[0] = low32(low);
  iov[1] = 11;
  auto* header = reinterpret_cast<std::uint32_t*>(low + 320);
  std::uint32_t fields[7] = {low32(low + 64), to.length, low32(iov), 1, 0, 0, 0};
  std::memcpy(header, fields, sizeof fields);
  auto* words = reinterpret_cast<std::uint32_t*>(low + 512);
  words[0] = static_cast<std::uint32_t>(fd);
  words[1] = low32(header);
  words[2] = static_cast<std::uint32_t>(flags);
  return int80_socketcall(kSysSendmsg, words);
}

long x32_sendto(int fd, const Target& to, int flags) {
  const char message[] = "abi escape\n";
  long result = syscall(SYS_sendto | kX32Bit, fd, message, sizeof message - 1, flags,
                        to.get(), to.length);
  return result < 0 ? -errno : result;
}

// The outcome of one Fast Open send: its result, then the connection's once it settled.
json outcome(int fd, long result) {
  json report{{"send", result_name(result)}};
  report["completion"] = errno_name(wait_connected(fd, 2000));
  report["peer"] = peer_of(fd);
  return report;
}

int host_socket(const Target& refused) {
  int fd = socket(refused.family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  connect_errno(fd, refused);
  wait_connected(fd, 3000);
  return fd;
}

int connected_socket(const Target& target) {
  int fd = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  connect_errno(fd, target);
  return fd;
}

}  // namespace

// abi-fastopen LOOPBACK_PORT HOST REFUSED_PORT DENIED_PORT ECHO_PORT: Fast Open sends to the
// host's 127.0.0.1:LOOPBACK_PORT from host sockets (bypassed connects that were refused), and to
// HOST:DENIED_PORT from new container sockets; then plain sends on connections to HOST:ECHO_PORT.
json scenario_abi_fastopen(const std::vector<std::string>& args) {
  Target loopback = loopback4(std::stoi(args.at(0)));
  Target refused = parse_target(args.at(1), args.at(2));
  Target denied = parse_target(args.at(1), args.at(3));
  Target echo = parse_target(args.at(1), args.at(4));
  char* low = low_page();
  if (low == nullptr) {
    return {{"error", "no memory below 4 GiB"}};
  }
  int flags = MSG_FASTOPEN | MSG_NOSIGNAL;
  json report;
  int fd = host_socket(refused);
  report["host_socket_bypassed"] = bypassed(fd);
  // The first send after the refused connect fails with ECONNABORTED, as connect() would.
  i386_sendto(fd, low, loopback, flags);
  report["i386_sendto_loopback"] = outcome(fd, i386_sendto(fd, low, loopback, flags));
  fd = host_socket(refused);
  i386_sendmsg(fd, low, loopback, flags);
  report["i386_sendmsg_loopback"] = outcome(fd, i386_sendmsg(fd, low, loopback, flags));
  fd = host_socket(refused);
  report["x32_sendto_loopback"] = outcome(fd, x32_sendto(fd, loopback, flags));

  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  report["i386_sendto_denied"] = outcome(fd, i386_sendto(fd, low, denied, flags));
  fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  report["x32_sendto_denied"] = outcome(fd, x32_sendto(fd, denied, flags));

  fd = connected_socket(echo);
  report["plain_i386_sendto"] = result_name(i386_sendto(fd, low, echo, MSG_NOSIGNAL));
  report["plain_x32_sendto"] = result_name(x32_sendto(fd, echo, MSG_NOSIGNAL));
  report["plain_sendto"] = result_name(
      sendto(fd, "x", 1, MSG_NOSIGNAL, nullptr, 0) < 0 ? -errno : 1);
  report["x32_getpid"] = result_name(syscall(SYS_getpid | kX32Bit) < 0 ? -errno : 1);
  return report;
}

}  // namespace attacker
