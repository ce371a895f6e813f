// waiters: several threads (or a forked child) connect one blocking socket while the first
// connect is still running; the kernel makes the later callers wait for the same connection.
#include <fcntl.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <thread>

#include "common.hpp"

namespace attacker {
namespace {

void on_signal(int) {}

int tcp_state_of(int fd) {
  tcp_info info{};
  socklen_t length = sizeof info;
  return getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) == 0 ? info.tcpi_state : -1;
}

// One connect's result and how long it took, in steps of 250 ms for comparing with the host.
json timed(int fd, const Target& target) {
  double start = now_ms();
  int error = connect_errno(fd, target);
  double elapsed = now_ms() - start;
  return {{"errno", errno_name(error)},
          {"ms", static_cast<long>(elapsed)},
          {"quarter_seconds", static_cast<long>((elapsed + 125) / 250)}};
}

json socket_state(int fd) {
  pollfd entry{fd, POLLOUT, 0};
  poll(&entry, 1, 0);
  return {{"tcp_state", tcp_state_of(fd)}, {"poll_revents", entry.revents}};
}

// A forked child's connect on the inherited socket, reported through a pipe.
json child_connect(int fd, const Target& target) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) {
    return {{"error", "pipe"}};
  }
  pid_t child = fork();
  if (child == 0) {
    std::string text = timed(fd, target).dump();
    (void)!write(pipe_fds[1], text.data(), text.size());
    _exit(0);
  }
  close(pipe_fds[1]);
  std::string text;
  char buffer[512];
  for (ssize_t n; (n = read(pipe_fds[0], buffer, sizeof buffer)) > 0;) {
    text.append(buffer, static_cast<std::size_t>(n));
  }
  close(pipe_fds[0]);
  waitpid(child, nullptr, 0);
  return text.empty() ? json{{"error", "no report"}} : json::parse(text);
}

}  // namespace

// waiters HOST PORT MODE SNDTIMEO_MS: HOST:PORT is a black hole. Thread 0 connects a blocking
// socket with SO_SNDTIMEO; 200 ms later the other callers connect it too. MODE:
//   interrupt  two threads wait; thread 0 gets SIGUSR1 (no SA_RESTART) at 500 ms and stays
//   exit       the same, but thread 0 ends right after its EINTR
//   nonblock   one thread sets O_NONBLOCK on the shared file, then connects
//   fork       a forked child connects the inherited socket
json scenario_waiters(const std::vector<std::string>& args) {
  Target target = parse_target(args.at(0), args.at(1));
  const std::string& mode = args.at(2);
  int timeout_ms = std::stoi(args.at(3));
  struct sigaction action{};
  action.sa_handler = on_signal;
  sigaction(SIGUSR1, &action, nullptr);
  int fd = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  timeval timeout{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);

  json report;
  std::atomic<bool> first_done{false};
  std::atomic<bool> release{false};
  json first;
  std::thread thread0([&] {
    first = timed(fd, target);
    first_done = true;
    while (mode != "exit" && !release) {
      usleep(10 * 1000);
    }
  });
  usleep(200 * 1000);
  json others = json::array();
  if (mode == "interrupt" || mode == "exit") {
    json results[2];
    std::thread a([&] { results[0] = timed(fd, target); });
    std::thread b([&] { results[1] = timed(fd, target); });
    usleep(300 * 1000);
    pthread_kill(thread0.native_handle(), SIGUSR1);
    a.join();
    b.join();
    others = {results[0], results[1]};
  } else if (mode == "nonblock") {
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    others.push_back(timed(fd, target));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  } else {
    others.push_back(child_connect(fd, target));
  }
  for (int i = 0; i < 400 && !first_done; ++i) {
    usleep(10 * 1000);
  }
  release = true;
  thread0.join();
  report["first"] = first;
  report["others"] = others;
  report["after"] = socket_state(fd);
  return report;
}

}  // namespace attacker
