// signal-connect: a blocking connect() interrupted by SIGALRM (with and without SA_RESTART) or
// cut short by SO_SNDTIMEO, and what the program observes afterwards.
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>

#include "common.hpp"

namespace attacker {
namespace {

void on_alarm(int) {}

void arm_alarm(int milliseconds) {
  itimerval timer{};
  timer.it_value.tv_sec = milliseconds / 1000;
  timer.it_value.tv_usec = (milliseconds % 1000) * 1000;
  setitimer(ITIMER_REAL, &timer, nullptr);
}

int tcp_state(int fd) {
  tcp_info info{};
  socklen_t length = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &length) != 0) {
    return -1;
  }
  return info.tcpi_state;
}

// One connect() with the alarm armed, and the socket's state right after it.
json timed_connect(int fd, const Target& target, int alarm_ms) {
  if (alarm_ms > 0) {
    arm_alarm(alarm_ms);
  }
  double start = now_ms();
  int error = connect_errno(fd, target);
  double elapsed = now_ms() - start;
  arm_alarm(0);
  pollfd entry{fd, POLLOUT, 0};
  poll(&entry, 1, 0);
  int so_error = 0;
  socklen_t length = sizeof so_error;
  getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &length);
  // Milliseconds in steps of 250, so that the tests can compare with the host's.
  return {{"errno", errno_name(error)},
          {"ms", static_cast<long>(elapsed)},
          {"quarter_seconds", static_cast<long>((elapsed + 125) / 250)},
          {"tcp_state", tcp_state(fd)},
          {"poll_revents", entry.revents},
          {"so_error", errno_name(so_error)}};
}

}  // namespace

// signal-connect HOST PORT interrupt|restart|sndtimeo MILLISECONDS: HOST:PORT is a black hole
// or a slow destination. interrupt and restart arm SIGALRM after MILLISECONDS (restart with
// SA_RESTART); sndtimeo sets SO_SNDTIMEO to MILLISECONDS. Two connects run in a row, then the
// scenario waits up to 4 s for the connection.
json scenario_signal_connect(const std::vector<std::string>& args) {
  Target target = parse_target(args.at(0), args.at(1));
  const std::string& mode = args.at(2);
  int milliseconds = std::stoi(args.at(3));
  struct sigaction action{};
  action.sa_handler = on_alarm;
  action.sa_flags = mode == "restart" ? SA_RESTART : 0;
  sigaction(SIGALRM, &action, nullptr);

  int fd = socket(target.family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int alarm_ms = milliseconds;
  if (mode == "sndtimeo") {
    timeval timeout{milliseconds / 1000, (milliseconds % 1000) * 1000};
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    alarm_ms = 0;
  }
  json report;
  report["first"] = timed_connect(fd, target, alarm_ms);
  report["second"] = timed_connect(fd, target, alarm_ms);
  report["final"] = errno_name(wait_connected(fd, 4000));
  report["peer"] = peer_of(fd);
  report["bypassed"] = bypassed(fd);
  return report;
}

}  // namespace attacker
