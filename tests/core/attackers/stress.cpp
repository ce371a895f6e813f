// Scenarios that stress the gateway: descriptors replaced during a connect, processes killed
// with connects pending, many blocking connects, many short connections and many processes.
// Each reports the gateway's descriptors, threads and memory before and after.
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <thread>

#include "common.hpp"

namespace attacker {
namespace {

void sleep_ms(int milliseconds) { usleep(static_cast<useconds_t>(milliseconds) * 1000); }

// Starts a detached thread with a small stack that runs connect() to `target` once.
bool start_connect_thread(const Target& target) {
  pthread_attr_t attributes;
  pthread_attr_init(&attributes);
  pthread_attr_setstacksize(&attributes, 64 * 1024);
  pthread_attr_setdetachstate(&attributes, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  auto* copy = new Target(target);
  int error = pthread_create(
      &thread, &attributes,
      [](void* argument) -> void* {
        auto* destination = static_cast<Target*>(argument);
        int fd = socket(destination->family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        connect_errno(fd, *destination);
        return nullptr;
      },
      copy);
  pthread_attr_destroy(&attributes);
  return error == 0;
}

// Forks a child that starts `threads` blocking connects to `target` and waits to be killed.
pid_t fork_pending_connects(const Target& target, int threads) {
  pid_t child = fork();
  if (child == 0) {
    for (int i = 0; i < threads; ++i) {
      start_connect_thread(target);
    }
    for (;;) {
      pause();
    }
  }
  return child;
}

void kill_and_reap(pid_t child) {
  kill(child, SIGKILL);
  waitpid(child, nullptr, 0);
}

void on_alarm(int) {}

// Sets SO_SNDTIMEO, which bounds a blocking connect(), when `milliseconds` is positive.
void set_send_timeout(int fd, int milliseconds) {
  if (milliseconds > 0) {
    timeval timeout{milliseconds / 1000, (milliseconds % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  }
}

// A blocking connect() to `target` bounded by a 5 s SIGALRM: its errno and duration.
json bounded_connect(const Target& target) {
  struct sigaction action{};
  action.sa_handler = on_alarm;
  sigaction(SIGALRM, &action, nullptr);
  int fd = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  alarm(5);
  double start = now_ms();
  int error = connect_errno(fd, target);
  double elapsed = now_ms() - start;
  alarm(0);
  close(fd);
  return {{"errno", errno_name(error)}, {"ms", static_cast<long>(elapsed)}};
}

// Connects and closes `count` times; returns the number of failures and counts them by errno
// in `errors` when given.
long connect_and_close(const Target& target, long count, json* errors = nullptr) {
  long failures = 0;
  for (long i = 0; i < count; ++i) {
    int fd = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int error = connect_errno(fd, target);
    if (error != 0) {
      ++failures;
      if (errors != nullptr) {
        (*errors)[errno_name(error)] = (*errors).value(errno_name(error), 0) + 1;
      }
    }
    close(fd);
  }
  return failures;
}

}  // namespace

// replaced-fd HOST PORT devnull|socket|close [SNDTIMEO_MS]: a blocking connect to a slow
// destination or a black hole (bounded by SO_SNDTIMEO) runs in a thread while the main thread
// replaces its descriptor (dup2 of /dev/null or of a UDP socket) or closes it. The kernel
// finishes the connect on the original socket and leaves the descriptor as the main thread
// made it.
json scenario_replaced_fd(const std::vector<std::string>& args) {
  Target target = parse_target(args.at(0), args.at(1));
  const std::string& mode = args.at(2);
  int fd = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  set_send_timeout(fd, args.size() > 3 ? std::stoi(args[3]) : 0);
  int connect_result = -1;
  std::thread connector([&] { connect_result = connect_errno(fd, target); });
  sleep_ms(300);
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (mode == "devnull") {
    dup2(devnull, fd);
  } else if (mode == "socket") {
    dup2(udp, fd);
  } else {
    close(fd);
  }
  connector.join();

  json report;
  report["connect"] = errno_name(connect_result);
  struct stat status{};
  bool open_now = fstat(fd, &status) == 0;
  report["open"] = open_now;
  report["is_socket"] = open_now && S_ISSOCK(status.st_mode);
  report["is_char_device"] = open_now && S_ISCHR(status.st_mode);
  int type = 0;
  socklen_t length = sizeof type;
  getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &length);
  std::string socket_type = "none";
  if (type == SOCK_DGRAM) {
    socket_type = "udp";
  } else if (type == SOCK_STREAM) {
    socket_type = "tcp";
  }
  report["socket_type"] = socket_type;
  report["peer"] = peer_of(fd);
  return report;
}

// concurrent-connect HOST PORT [SNDTIMEO_MS]: two threads call a blocking connect() on the same
// socket, the second 300 ms after the first. To a slow destination the kernel returns 0 to both
// once the handshake finishes; to a black hole with SO_SNDTIMEO, EINPROGRESS to the first and
// EALREADY to the second when their timeouts expire.
json scenario_concurrent_connect(const std::vector<std::string>& args) {
  Target target = parse_target(args.at(0), args.at(1));
  int fd = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  set_send_timeout(fd, args.size() > 2 ? std::stoi(args[2]) : 0);
  std::atomic<int> results[2] = {-1, -1};
  auto connector = [&](int index) {
    results[index] = connect_errno(fd, target);
  };
  std::thread first(connector, 0);
  first.detach();
  sleep_ms(300);
  std::thread second(connector, 1);
  second.detach();
  for (int waited = 0; waited < 80 && (results[0] < 0 || results[1] < 0); ++waited) {
    sleep_ms(100);
  }
  auto outcome = [](int result) { return result < 0 ? std::string("blocked") : errno_name(result); };
  return {{"first", outcome(results[0])}, {"second", outcome(results[1])}, {"peer", peer_of(fd)}};
}

// kill-pending BLACKHOLE PORT ROUNDS THREADS ECHO_HOST ECHO_PORT [SETTLE_MS]: ROUNDS times, a
// child starts THREADS blocking connects to the black hole and is killed with SIGKILL 500 ms
// later. The gateway's usage is read SETTLE_MS (default 3000) after the last kill.
json scenario_kill_pending(const std::vector<std::string>& args) {
  Target blackhole = parse_target(args.at(0), args.at(1));
  int rounds = std::stoi(args.at(2));
  int threads = std::stoi(args.at(3));
  Target echo = parse_target(args.at(4), args.at(5));
  int settle_ms = args.size() > 6 ? std::stoi(args[6]) : 3000;
  connect_and_close(echo, 1);
  sleep_ms(1500);
  json report;
  report["before"] = to_json(gateway_usage());
  for (int round = 0; round < rounds; ++round) {
    pid_t child = fork_pending_connects(blackhole, threads);
    sleep_ms(500);
    if (round == 0) {
      report["pending"] = to_json(gateway_usage());
    }
    kill_and_reap(child);
  }
  sleep_ms(settle_ms);
  report["after"] = to_json(gateway_usage());
  report["echo_after"] = bounded_connect(echo);
  return report;
}

// many-blocking BLACKHOLE PORT COUNT ECHO_HOST ECHO_PORT: a child holds COUNT blocking connects
// to the black hole; meanwhile one blocking connect to the echo server must still finish fast.
json scenario_many_blocking(const std::vector<std::string>& args) {
  Target blackhole = parse_target(args.at(0), args.at(1));
  int count = std::stoi(args.at(2));
  Target echo = parse_target(args.at(3), args.at(4));
  connect_and_close(echo, 1);
  sleep_ms(1500);
  json report;
  report["before"] = to_json(gateway_usage());
  pid_t child = fork_pending_connects(blackhole, count);
  sleep_ms(3000);
  report["pending"] = to_json(gateway_usage());
  report["echo_while_pending"] = bounded_connect(echo);
  kill_and_reap(child);
  sleep_ms(3000);
  report["after"] = to_json(gateway_usage());
  report["echo_after"] = bounded_connect(echo);
  return report;
}

// short-connections HOST PORT COUNT: COUNT sequential connect() and close().
json scenario_short_connections(const std::vector<std::string>& args) {
  Target target = parse_target(args.at(0), args.at(1));
  long count = std::stol(args.at(2));
  connect_and_close(target, 1);
  sleep_ms(1500);
  json report;
  report["before"] = to_json(gateway_usage());
  double start = now_ms();
  json errors = json::object();
  report["failures"] = connect_and_close(target, count, &errors);
  report["errors"] = errors;
  report["per_second"] = static_cast<long>(static_cast<double>(count) * 1000 / (now_ms() - start));
  sleep_ms(2000);
  report["after"] = to_json(gateway_usage());
  return report;
}

// fork-storm HOST PORT PROCESSES CONNECTS: PROCESSES children at once, each connecting and
// closing CONNECTS times; a child exits 1 when any of its connects failed.
json scenario_fork_storm(const std::vector<std::string>& args) {
  Target target = parse_target(args.at(0), args.at(1));
  int processes = std::stoi(args.at(2));
  long connects = std::stol(args.at(3));
  connect_and_close(target, 1);
  sleep_ms(1500);
  json report;
  report["before"] = to_json(gateway_usage());
  std::vector<pid_t> children;
  for (int i = 0; i < processes; ++i) {
    pid_t child = fork();
    if (child == 0) {
      _exit(connect_and_close(target, connects) == 0 ? 0 : 1);
    }
    children.push_back(child);
  }
  long failed = 0;
  long unforked = 0;
  for (pid_t child : children) {
    int status = 0;
    if (child < 0) {
      ++unforked;
    } else if (waitpid(child, &status, 0) != child || !WIFEXITED(status) ||
               WEXITSTATUS(status) != 0) {
      ++failed;
    }
  }
  report["failed_children"] = failed;
  report["unforked"] = unforked;
  sleep_ms(2000);
  report["after"] = to_json(gateway_usage());
  return report;
}

// hup-storm HOST PORT SECONDS: one thread sends SIGHUP to the gateway (the parent, which
// reloads its rules on it) as fast as it can while the main thread connects and closes.
json scenario_hup_storm(const std::vector<std::string>& args) {
  Target target = parse_target(args.at(0), args.at(1));
  double seconds = std::stod(args.at(2));
  connect_and_close(target, 1);
  sleep_ms(1500);
  json report;
  report["before"] = to_json(gateway_usage());
  std::atomic<bool> stop{false};
  std::atomic<long> signals{0};
  std::thread sender([&] {
    pid_t gateway = getppid();
    while (!stop.load(std::memory_order_relaxed)) {
      if (kill(gateway, SIGHUP) == 0) {
        ++signals;
      }
    }
  });
  long connects = 0;
  long failures = 0;
  double worst_ms = 0;
  double deadline = now_ms() + seconds * 1000;
  while (now_ms() < deadline) {
    double start = now_ms();
    failures += connect_and_close(target, 1);
    worst_ms = std::max(worst_ms, now_ms() - start);
    ++connects;
  }
  stop = true;
  sender.join();
  report["signals"] = signals.load();
  report["connects"] = connects;
  report["failures"] = failures;
  report["slowest_connect_ms"] = static_cast<long>(worst_ms);
  sleep_ms(3000);
  report["after"] = to_json(gateway_usage());
  return report;
}

}  // namespace attacker
