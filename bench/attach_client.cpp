// Attaches many small "containers" to one `sockgate serve`, as a container runtime does, so
// that the suite can measure the gateway's memory with N attached commands.
//
// Each container is a child process in new user and network namespaces with a seccomp filter
// that notifies connect() and bind(). The client sends the filter's listener to the serve
// listener socket as runc does: one ContainerProcessState JSON message with the descriptor in
// SCM_RIGHTS, on a connection that stays open. Each child then opens one TCP connection to the
// echo server (bypassed by the built-in policy), checks one round trip, and keeps it open.
// After the report the client waits until standard input closes, then ends the children.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <seccomp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "bench/load_common.hpp"
#include "core/fd.hpp"

namespace sockgate::bench {
namespace {

// One-byte messages on the socket pair between the client and a child.
constexpr char kAttached = 'A';
constexpr char kConnected = 'C';

// How long a child may take to connect through the gateway after its state was sent.
constexpr int kReadyTimeoutMilliseconds = 30000;

struct Options {
  std::string listener;
  std::string server;
  int count = 100;
  bool hold = false;
};

struct Child {
  pid_t pid = 0;
  UniqueFd channel;
  // The runtime's connection to the serve listener, open while the container runs.
  UniqueFd listener_connection;
};

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + " failed: " + describe_errno(errno));
}

// Child side: the process is single-threaded, so any failure ends it with a status.
[[noreturn]] void child_exit(const char* step) {
  std::fprintf(stderr, "bench_attach_client: child %d: %s failed: %s\n", ::getpid(), step,
               describe_errno(errno).c_str());
  ::_exit(1);
}

void write_file(const char* path, const std::string& text) {
  UniqueFd file(::open(path, O_WRONLY | O_CLOEXEC));
  if (!file || ::write(file.get(), text.data(), text.size()) < 0) {
    child_exit(path);
  }
}

int install_notifying_filter() {
  scmp_filter_ctx filter = seccomp_init(SCMP_ACT_ALLOW);
  if (filter == nullptr || seccomp_rule_add(filter, SCMP_ACT_NOTIFY, SCMP_SYS(connect), 0) < 0 ||
      seccomp_rule_add(filter, SCMP_ACT_NOTIFY, SCMP_SYS(bind), 0) < 0 ||
      seccomp_load(filter) < 0) {
    child_exit("installing the seccomp filter");
  }
  int fd = seccomp_notify_fd(filter);
  seccomp_release(filter);
  return fd;
}

void send_descriptor(int channel, int fd) {
  char byte = 'F';
  iovec data{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &fd, sizeof fd);
  if (::sendmsg(channel, &message, MSG_NOSIGNAL) != 1) {
    fail("sendmsg with SCM_RIGHTS");
  }
}

// Opens the connection that the gateway bypasses and checks one round trip on it.
UniqueFd connect_through_gateway(const Endpoint& server) {
  UniqueFd socket(::socket(server.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  char byte = 'p';
  if (!socket || ::connect(socket.get(), server.get(), server.length) != 0 ||
      ::write(socket.get(), &byte, 1) != 1 || ::read(socket.get(), &byte, 1) != 1) {
    child_exit("the connection to the echo server");
  }
  return socket;
}

[[noreturn]] void run_container(int channel, uid_t uid, gid_t gid, const Endpoint& server) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
    child_exit("unshare of a user and network namespace");
  }
  write_file("/proc/self/setgroups", "deny");
  write_file("/proc/self/uid_map", "0 " + std::to_string(uid) + " 1");
  write_file("/proc/self/gid_map", "0 " + std::to_string(gid) + " 1");

  int notify_fd = install_notifying_filter();
  send_descriptor(channel, notify_fd);
  ::close(notify_fd);

  char byte = 0;
  if (::read(channel, &byte, 1) != 1 || byte != kAttached) {
    ::_exit(1);
  }
  UniqueFd connection = connect_through_gateway(server);
  byte = kConnected;
  if (::write(channel, &byte, 1) != 1) {
    child_exit("the report to the client");
  }
  while (::read(channel, &byte, 1) > 0) {
  }
  ::_exit(0);
}

int receive_descriptor(int channel) {
  char byte = 0;
  iovec data{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  if (::recvmsg(channel, &message, MSG_CMSG_CLOEXEC) != 1) {
    throw std::runtime_error("a child exited before it sent its seccomp listener");
  }
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  if (header == nullptr || header->cmsg_type != SCM_RIGHTS) {
    throw std::runtime_error("a child sent no descriptor");
  }
  int fd = -1;
  std::memcpy(&fd, CMSG_DATA(header), sizeof fd);
  return fd;
}

// Returns the ContainerProcessState message that runc sends for the container.
std::string process_state(pid_t pid, int index) {
  nlohmann::json state = {
      {"ociVersion", "1.0.2"},    {"id", "bench-" + std::to_string(index)},
      {"status", "creating"},     {"pid", pid},
      {"bundle", "/nonexistent"}, {"annotations", nlohmann::json::object()},
  };
  nlohmann::json message = {
      {"ociVersion", "1.0.2"}, {"fds", {"seccompFd"}}, {"pid", pid},
      {"metadata", ""},        {"state", state},
  };
  return message.dump();
}

// Connects to the serve listener and sends the state with the seccomp listener descriptor.
UniqueFd hand_over(const std::string& listener, pid_t pid, int index, int notify_fd) {
  UniqueFd connection(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (listener.size() >= sizeof address.sun_path) {
    throw std::invalid_argument("listener path '" + listener + "' is too long");
  }
  std::memcpy(address.sun_path, listener.c_str(), listener.size());
  if (!connection ||
      ::connect(connection.get(), reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    fail("connect to the serve listener " + listener);
  }
  std::string text = process_state(pid, index);
  iovec data{text.data(), text.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr message{};
  message.msg_iov = &data;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(header), &notify_fd, sizeof notify_fd);
  if (::sendmsg(connection.get(), &message, MSG_NOSIGNAL) != static_cast<ssize_t>(text.size())) {
    fail("sending the container state to " + listener);
  }
  return connection;
}

Child start_container(const Options& options, const Endpoint& server, int index) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, pair) != 0) {
    fail("socketpair");
  }
  Child child;
  child.channel.reset(pair[0]);
  UniqueFd child_end(pair[1]);
  uid_t uid = ::getuid();
  gid_t gid = ::getgid();
  child.pid = ::fork();
  if (child.pid < 0) {
    fail("fork");
  }
  if (child.pid == 0) {
    child.channel.reset();
    run_container(child_end.get(), uid, gid, server);
  }
  UniqueFd notify_fd(receive_descriptor(child.channel.get()));
  child.listener_connection = hand_over(options.listener, child.pid, index, notify_fd.get());
  if (::write(child.channel.get(), &kAttached, 1) != 1) {
    fail("the attach message to a child");
  }
  return child;
}

void wait_until_connected(const Child& child) {
  pollfd entry{child.channel.get(), POLLIN, 0};
  char byte = 0;
  if (::poll(&entry, 1, kReadyTimeoutMilliseconds) != 1 ||
      ::read(child.channel.get(), &byte, 1) != 1 || byte != kConnected) {
    throw std::runtime_error("container " + std::to_string(child.pid) +
                             " did not connect through the gateway within " +
                             std::to_string(kReadyTimeoutMilliseconds / 1000) + " s");
  }
}

// Closes the channels, which ends the children, and reaps them; returns how many failed.
int stop_containers(std::vector<Child>& children) {
  int failed = 0;
  for (Child& child : children) {
    child.channel.reset();
  }
  for (Child& child : children) {
    int status = 0;
    if (::waitpid(child.pid, &status, 0) != child.pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0) {
      ++failed;
    }
  }
  return failed;
}

int run(const Options& options) {
  Endpoint server = parse_endpoint(options.server);
  std::vector<Child> children;
  children.reserve(static_cast<std::size_t>(options.count));
  Clock::time_point start = Clock::now();
  try {
    for (int index = 0; index < options.count; ++index) {
      children.push_back(start_container(options, server, index));
    }
    for (const Child& child : children) {
      wait_until_connected(child);
    }
  } catch (...) {
    stop_containers(children);
    throw;
  }
  print_report({{"attached", children.size()}, {"seconds", seconds_between(start, Clock::now())}});
  if (options.hold) {
    wait_for_end_of_input();
  }
  return stop_containers(children) == 0 ? 0 : 1;
}

}  // namespace
}  // namespace sockgate::bench

int main(int argc, char** argv) {
  sockgate::bench::Options options;
  CLI::App app("Attach N minimal containers to `sockgate serve` through its seccomp listener");
  app.add_option("--listener", options.listener, "Path of the serve listener socket")->required();
  app.add_option("--server", options.server,
                 "Echo server ADDRESS:PORT that each container connects to")
      ->required();
  app.add_option("--count", options.count, "Number of containers")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_flag("--hold", options.hold,
               "After the report, keep the containers until standard input is closed");
  CLI11_PARSE(app, argc, argv);

  try {
    return sockgate::bench::run(options);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_attach_client: %s\n", error.what());
    return 2;
  }
}
