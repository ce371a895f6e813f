#include "core/fallback_network.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include <fmt/format.h>

#include <linux/netlink.h>
#include <sys/socket.h>

#include <algorithm>

#include "core/kernel.hpp"
#include "core/netns.hpp"
#include "core/log.hpp"

extern char** environ;

namespace sockgate {
namespace {

constexpr int kStartTimeoutMilliseconds = 10000;
constexpr int kIpv6WaitMilliseconds = 2000;

// Starts a helper with its standard output and error in `output`, so its chatter stays out of
// the command's output; `output` is shown when the helper fails.
pid_t spawn(const std::vector<std::string>& arguments, const std::vector<int>& keep_fds,
            int output) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, output, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, output, STDERR_FILENO);
  for (int fd : keep_fds) {
    // Clearing close-on-exec through a dup2 onto itself keeps the descriptor across exec.
    posix_spawn_file_actions_adddup2(&actions, fd, fd);
  }
  std::vector<char*> argv;
  for (const std::string& argument : arguments) {
    argv.push_back(const_cast<char*>(argument.c_str()));
  }
  argv.push_back(nullptr);
  pid_t pid = 0;
  int error = posix_spawnp(&pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (error != 0) {
    throw std::runtime_error(fmt::format("cannot start {}: {}; install it (Debian package {})",
                                         arguments[0], std::strerror(error), arguments[0] ==
                                         "pasta" ? "passt" : arguments[0]));
  }
  return pid;
}

std::string read_output(int output) {
  std::string text;
  char buffer[4096];
  ssize_t length = 0;
  off_t offset = 0;
  while ((length = ::pread(output, buffer, sizeof buffer, offset)) > 0 && text.size() < 65536) {
    text.append(buffer, static_cast<std::size_t>(length));
    offset += length;
  }
  return text;
}

// What the user can do about a start failure, judged from the helper's output.
std::string start_hint(const std::string& said) {
  if (said.find("/dev/net/tun") != std::string::npos) {
    return "make /dev/net/tun usable by this user (mode 0666), or pass --net none or --net "
           "pasta";
  }
  return "";
}

// Waits until `ready` has data or the helper `pid` exits.
void wait_ready(int ready, pid_t pid, const char* name, int output) {
  pollfd entry{ready, POLLIN, 0};
  int waited = 0;
  while (waited < kStartTimeoutMilliseconds) {
    if (::poll(&entry, 1, 100) > 0) {
      char byte;
      if (::read(ready, &byte, 1) == 1) {
        return;
      }
      break;
    }
    int status = 0;
    if (::waitpid(pid, &status, WNOHANG) == pid) {
      throw std::runtime_error(fmt::format("{} exited while starting (status {}); it said:\n{}{}",
                                           name, status, read_output(output),
                                           start_hint(read_output(output))));
    }
    // slirp4netns keeps running after its child, which opens the tap device, failed.
    if (read_output(output).find("child failed") != std::string::npos) {
      break;
    }
    waited += 100;
  }
  ::kill(pid, SIGKILL);
  ::waitpid(pid, nullptr, 0);
  std::string said = read_output(output);
  throw std::runtime_error(fmt::format("{} failed to configure the network; it said:\n{}{}",
                                       name, said, start_hint(said)));
}

}  // namespace

FallbackKind parse_fallback(std::string_view name) {
  if (name == "slirp4netns") {
    return FallbackKind::slirp4netns;
  }
  if (name == "pasta") {
    return FallbackKind::pasta;
  }
  if (name == "none") {
    return FallbackKind::none;
  }
  throw std::invalid_argument(
      fmt::format("invalid network '{}': use slirp4netns, pasta or none", name));
}

FallbackNetwork::FallbackNetwork(FallbackKind kind, pid_t pid) : kind_(kind) {
  if (kind != FallbackKind::none) {
    output_.reset(::memfd_create("sockgate-fallback-output", MFD_CLOEXEC));
  }
  if (kind == FallbackKind::slirp4netns) {
    start_slirp4netns(pid);
  } else if (kind == FallbackKind::pasta) {
    start_pasta(pid);
  }
}

FallbackNetwork::~FallbackNetwork() {
  if (!running_) {
    return;
  }
  exit_fd_.reset();  // slirp4netns exits when its exit descriptor closes
  if (kind_ == FallbackKind::pasta) {
    ::kill(pid_, SIGTERM);
  }
  for (int i = 0; i < 100; ++i) {
    if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
      return;
    }
    ::usleep(10000);
  }
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

void FallbackNetwork::exited(int status) {
  running_ = false;
  log().error("the fallback network ({}) exited with status {}: traffic that is passed no "
              "longer flows; it said:\n{}",
              kind_ == FallbackKind::pasta ? "pasta" : "slirp4netns", status,
              read_output(output_.get()));
}

void FallbackNetwork::start_slirp4netns(pid_t target) {
  int ready[2];
  int exit[2];
  if (::pipe2(ready, O_CLOEXEC) != 0 || ::pipe2(exit, O_CLOEXEC) != 0) {
    throw_errno("pipe2");
  }
  UniqueFd ready_read(ready[0]);
  UniqueFd ready_write(ready[1]);
  UniqueFd exit_read(exit[0]);
  exit_fd_.reset(exit[1]);
  // The options Podman uses for rootless containers: no access to the host's loopback through
  // the gateway address, a sandbox and seccomp filter of its own, MTU 65520.
  pid_ = spawn({"slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
                "--enable-ipv6", "--enable-sandbox", "--enable-seccomp",
                fmt::format("--ready-fd={}", ready_write.get()),
                fmt::format("--exit-fd={}", exit_read.get()), std::to_string(target), "tap0"},
               {ready_write.get(), exit_read.get()}, output_.get());
  running_ = true;
  ready_write.reset();
  exit_read.reset();
  wait_ready(ready_read.get(), pid_, "slirp4netns", output_.get());
  wait_for_ipv6(target);
}

void FallbackNetwork::start_pasta(pid_t target) {
  // No port forwarding in either direction: sockgate publishes ports itself.
  pid_ = spawn({"pasta", "--config-net", "--quiet", "--foreground", "--no-map-gw", "-t", "none",
                "-u", "none", "-T", "none", "-U", "none", std::to_string(target)},
               {}, output_.get());
  running_ = true;
  wait_for_address(target);
}

// slirp4netns configures IPv4 itself; IPv6 comes from its router advertisement. Waits briefly
// for that address so a passed IPv6 connect right at the start finds a route.
void FallbackNetwork::wait_for_ipv6(pid_t target) {
  UniqueFd pidfd(pidfd_open(target, false));
  SocketRequest request{AF_NETLINK, SOCK_RAW, NETLINK_ROUTE};
  UniqueFd route = std::move(open_sockets_in_netns(pidfd.get(), std::span(&request, 1)).front());
  IpPrefix slirp_prefix{*rules::IpAddress::parse("fd00::"), 64};
  for (int waited = 0; waited < kIpv6WaitMilliseconds; waited += 5) {
    for (const IpPrefix& prefix : dump_interface_prefixes(route.get())) {
      if (prefix.length == 128 && slirp_prefix.contains(prefix.network)) {
        return;
      }
    }
    ::usleep(5000);
  }
  log().warn("slirp4netns gave no IPv6 address within {} ms; passed IPv6 connections may fail "
             "until it does", kIpv6WaitMilliseconds);
}

// pasta has no readiness descriptor: wait until the namespace has an address beyond loopback.
void FallbackNetwork::wait_for_address(pid_t target) {
  UniqueFd pidfd(pidfd_open(target, false));
  SocketRequest request{AF_NETLINK, SOCK_RAW, NETLINK_ROUTE};
  UniqueFd route = std::move(open_sockets_in_netns(pidfd.get(), std::span(&request, 1)).front());
  auto loopback = [](const IpPrefix& prefix) {
    return IpPrefix{*rules::IpAddress::parse("127.0.0.0"), 104}.contains(prefix.network) ||
           prefix.network == *rules::IpAddress::parse("::1");
  };
  for (int waited = 0; waited < kStartTimeoutMilliseconds; waited += 20) {
    auto prefixes = dump_interface_prefixes(route.get());
    if (!std::all_of(prefixes.begin(), prefixes.end(), loopback)) {
      return;
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      running_ = false;
      throw std::runtime_error(fmt::format("pasta exited while starting (status {}); it said:\n{}",
                                           status, read_output(output_.get())));
    }
    ::usleep(20000);
  }
  throw std::runtime_error(fmt::format("pasta did not configure the network within {} s",
                                       kStartTimeoutMilliseconds / 1000));
}

}  // namespace sockgate
