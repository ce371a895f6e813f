#include "core/run.hpp"

#include <fcntl.h>
#include <linux/close_range.h>
#include <net/if.h>
#include <sched.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <optional>

#include <fmt/format.h>

#include "core/control.hpp"
#include "core/kernel.hpp"
#include "core/log.hpp"
#include "core/seccomp_filter.hpp"

namespace sockgate {
namespace {

// Messages on the socket pair between `run` and its child, one byte each.
constexpr char kNamespacesReady = 'N';
constexpr char kGo = 'G';
constexpr char kAttached = 'A';
constexpr char kAbort = 'X';

// sockgate's own failures before the command runs, like env(1) and podman-run(1).
constexpr int kSetupFailed = 125;

// Signals that `run` handles itself: SIGHUP reloads, SIGCHLD reaps, the rest are forwarded.
constexpr int kHandledSignals[] = {SIGCHLD, SIGHUP, SIGINT, SIGTERM, SIGQUIT, SIGUSR1, SIGUSR2,
                                   SIGWINCH, SIGALRM, SIGPIPE};

sigset_t handled_signals() {
  sigset_t set;
  sigemptyset(&set);
  for (int signal : kHandledSignals) {
    sigaddset(&set, signal);
  }
  return set;
}

// The child's side. Runs between fork and exec in a process that was single-threaded at fork,
// so the ordinary library is safe to use. Writes its failure to the channel as text.
[[noreturn]] void fail_in_child(int channel, const std::string& message) {
  ::send(channel, message.data(), message.size(), MSG_NOSIGNAL);
  ::_exit(kSetupFailed);
}

void write_file(int channel, const char* path, const std::string& text) {
  UniqueFd file(::open(path, O_WRONLY | O_CLOEXEC));
  if (!file || ::write(file.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
    fail_in_child(channel, fmt::format("cannot write {}: {}", path, std::strerror(errno)));
  }
}

void enter_namespaces(int channel, uid_t uid, gid_t gid) {
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
    fail_in_child(channel, fmt::format("cannot create a user and network namespace: {}; check "
                                       "that unprivileged user namespaces are enabled "
                                       "(sysctl user.max_user_namespaces)",
                                       std::strerror(errno)));
  }
  // Map the user to root inside, as rootless Podman does, so the command may bind low ports.
  write_file(channel, "/proc/self/setgroups", "deny");
  write_file(channel, "/proc/self/uid_map", fmt::format("0 {} 1", uid));
  write_file(channel, "/proc/self/gid_map", fmt::format("0 {} 1", gid));

  // Interfaces made later (slirp4netns' tap0) take these: no duplicate address detection and an
  // immediate router solicitation, so IPv6 is configured milliseconds after the link is up
  // instead of about two seconds. Nothing else shares this new namespace's link.
  for (const char* setting : {"accept_dad", "dad_transmits", "router_solicitation_delay"}) {
    UniqueFd sysctl(::open(fmt::format("/proc/sys/net/ipv6/conf/default/{}", setting).c_str(),
                           O_WRONLY | O_CLOEXEC));
    if (sysctl) {
      [[maybe_unused]] auto written = ::write(sysctl.get(), "0", 1);
    }
  }

  // Client TCP Fast Open off for the container's own sockets, as a second guard beside the
  // filter's rule: int 0x80 sends through socketcall() keep their flags in memory, where the
  // filter cannot see MSG_FASTOPEN.
  UniqueFd fast_open(::open("/proc/sys/net/ipv4/tcp_fastopen", O_WRONLY | O_CLOEXEC));
  if (fast_open) {
    [[maybe_unused]] auto written = ::write(fast_open.get(), "0", 1);
  }

  UniqueFd socket(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  ifreq request{};
  std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
  request.ifr_flags = IFF_UP;
  if (!socket || ::ioctl(socket.get(), SIOCSIFFLAGS, &request) != 0) {
    fail_in_child(channel, fmt::format("cannot bring up loopback: {}", std::strerror(errno)));
  }
}

char receive_byte(int channel) {
  char byte = kAbort;
  while (::recv(channel, &byte, 1, 0) < 0 && errno == EINTR) {
  }
  return byte;
}

[[noreturn]] void run_child(int channel, const RunOptions& options, uid_t uid, gid_t gid) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  enter_namespaces(channel, uid, gid);
  ::send(channel, &kNamespacesReady, 1, MSG_NOSIGNAL);
  if (receive_byte(channel) != kGo) {
    ::_exit(kSetupFailed);
  }
  if (options.filter) {
    try {
      UniqueFd listener = install_socket_filter();
      int fd = listener.get();
      send_fds(channel, std::span(&fd, 1), {});
    } catch (const std::system_error& error) {
      fail_in_child(channel, fmt::format("cannot install the seccomp filter: {}", error.what()));
    }
    if (receive_byte(channel) != kAttached) {
      ::_exit(kSetupFailed);
    }
  }
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);
  ::syscall(SYS_close_range, 3U, ~0U, 0U);

  std::vector<char*> argv;
  for (const std::string& argument : options.command) {
    argv.push_back(const_cast<char*>(argument.c_str()));
  }
  argv.push_back(nullptr);
  ::execvp(argv[0], argv.data());
  int error = errno;
  std::fprintf(stderr, "sockgate: cannot run %s: %s\n", argv[0], std::strerror(error));
  ::_exit(error == ENOENT ? 127 : 126);
}

int exit_status(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return kSetupFailed;
}

// Reads the child's failure message, if it sent one instead of the expected byte.
std::string child_failure(int channel, char first) {
  std::string message(1, first);
  char buffer[512];
  ssize_t length = ::recv(channel, buffer, sizeof buffer, MSG_DONTWAIT);
  if (length > 0) {
    message.append(buffer, static_cast<std::size_t>(length));
  }
  return message;
}

class Runner {
 public:
  explicit Runner(const RunOptions& options) : options_(options) {}

  int run();

 private:
  int start_child();
  void set_up_child();
  int serve_until_exit();
  void forward(const signalfd_siginfo& info);

  const RunOptions& options_;
  UniqueFd channel_;
  pid_t child_ = 0;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<FallbackNetwork> network_;
  std::unique_ptr<ControlServer> control_;
};

int Runner::start_child() {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    throw_errno("socketpair");
  }
  channel_.reset(pair[0]);
  UniqueFd child_end(pair[1]);
  uid_t uid = ::getuid();
  gid_t gid = ::getgid();
  child_ = ::fork();
  if (child_ < 0) {
    throw_errno("fork");
  }
  if (child_ == 0) {
    channel_.reset();
    run_child(child_end.get(), options_, uid, gid);
  }
  return 0;
}

// Creates the gateway, starts the fallback network and attaches the child's filter. Throws
// with a message for the user when any of it fails.
void Runner::set_up_child() {
  if (options_.filter) {
    gateway_ = std::make_unique<Gateway>(options_.gateway);
  }
  char first = receive_byte(channel_.get());
  if (first != kNamespacesReady) {
    throw std::runtime_error(child_failure(channel_.get(), first));
  }
  network_ = std::make_unique<FallbackNetwork>(options_.network, child_);
  ::send(channel_.get(), &kGo, 1, MSG_NOSIGNAL);
  if (!options_.filter) {
    return;
  }
  std::vector<UniqueFd> fds;
  char buffer[512];
  std::size_t length = receive_fds(channel_.get(), fds, 1, std::as_writable_bytes(std::span(buffer)));
  if (fds.size() != 1) {
    throw std::runtime_error(length > 0 ? std::string(buffer, length)
                                        : "the command exited before its filter was installed");
  }
  ContainerInfo info;
  info.id = fmt::format("run-{}", child_);
  info.pid = child_;
  info.labels = rules::LabelSet(options_.labels);
  gateway_->attach(std::move(info), std::move(fds.front()));
  if (!options_.control_path.empty()) {
    control_ = std::make_unique<ControlServer>(options_.control_path, *gateway_);
  }
  ::send(channel_.get(), &kAttached, 1, MSG_NOSIGNAL);
}

void Runner::forward(const signalfd_siginfo& info) {
  // Signals from the terminal (SI_KERNEL) reach the whole foreground process group, the
  // command included; forwarding them too would deliver them twice.
  if (info.ssi_code == SI_KERNEL) {
    return;
  }
  ::kill(child_, static_cast<int>(info.ssi_signo));
}

int Runner::serve_until_exit() {
  sigset_t signals = handled_signals();
  UniqueFd signal_fd(::signalfd(-1, &signals, SFD_CLOEXEC));
  if (!signal_fd) {
    throw_errno("signalfd");
  }
  for (;;) {
    signalfd_siginfo info{};
    if (::read(signal_fd.get(), &info, sizeof info) != sizeof info) {
      continue;
    }
    int signal = static_cast<int>(info.ssi_signo);
    if (signal == SIGHUP && gateway_) {
      gateway_->reload();
    } else if (signal == SIGHUP || (signal != SIGCHLD && signal != SIGPIPE)) {
      forward(info);
    }
    if (signal != SIGCHLD) {
      continue;
    }
    int status = 0;
    pid_t pid = 0;
    while ((pid = ::waitpid(-1, &status, WNOHANG)) > 0) {
      if (pid == child_) {
        return exit_status(status);
      }
      if (network_ && pid == network_->pid()) {
        network_->exited(status);
      }
    }
  }
}

// Raises the soft limit of open files to the hard limit, as Podman does for rootless
// containers: slirp4netns keeps a host socket open for each connection for a while after it
// ends, and fails new ones at the usual limit of 1,024. The command inherits the limit.
void raise_open_file_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) == 0 && limit.rlim_cur < limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
  }
}

int Runner::run() {
  raise_open_file_limit();
  sigset_t signals = handled_signals();
  ::sigprocmask(SIG_BLOCK, &signals, nullptr);
  start_child();
  try {
    set_up_child();
  } catch (const std::exception& error) {
    ::send(channel_.get(), &kAbort, 1, MSG_NOSIGNAL);
    ::kill(child_, SIGKILL);
    ::waitpid(child_, nullptr, 0);
    std::fprintf(stderr, "sockgate: %s\n", error.what());
    return kSetupFailed;
  }
  channel_.reset();
  int status = serve_until_exit();
  control_.reset();
  if (gateway_) {
    gateway_->stop();
  }
  network_.reset();
  return status;
}

}  // namespace

int run_command(const RunOptions& options) { return Runner(options).run(); }

}  // namespace sockgate
