// The server of the load generators, run on the test host: one thread, epoll, non-blocking
// sockets. Each listener has a mode:
//   --echo ENDPOINT         sends back every byte it receives, until the client closes
//                           (bench_request_latency);
//   --reply-close ENDPOINT  sends back the first bytes it receives, then closes
//                           (bench_connect_rate), so the TIME_WAIT state stays on the server's side.
// It runs until SIGTERM or SIGINT.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#include "bench/load_common.hpp"
#include "core/fd.hpp"

namespace sockgate::bench {
namespace {

enum class Mode { echo, reply_close };

struct Connection {
  UniqueFd socket;
  Mode mode = Mode::echo;
  // Bytes of a reply that the socket buffer did not take yet.
  std::string pending;
  bool close_after_flush = false;
  // Whether epoll also reports writability, while `pending` waits for buffer space.
  bool waiting_to_write = false;
};

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + " failed: " + describe_errno(errno));
}

class Server {
 public:
  Server() : epoll_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (!epoll_) {
      fail("epoll_create1");
    }
  }

  void listen_on(const Endpoint& endpoint, Mode mode);
  void run();

 private:
  void watch(int fd, std::uint32_t events);
  void accept_all(int listener, Mode mode);
  void handle(Connection& connection, std::uint32_t events);
  bool read_and_reply(Connection& connection);
  bool flush(Connection& connection);
  void set_waiting_to_write(Connection& connection, bool waiting);

  UniqueFd epoll_;
  std::unordered_map<int, std::pair<UniqueFd, Mode>> listeners_;
  std::unordered_map<int, Connection> connections_;
};

void Server::watch(int fd, std::uint32_t events) {
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
    fail("epoll_ctl");
  }
}

void Server::listen_on(const Endpoint& endpoint, Mode mode) {
  UniqueFd socket(::socket(endpoint.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
  if (!socket) {
    fail("socket");
  }
  int enabled = 1;
  ::setsockopt(socket.get(), SOL_SOCKET, SO_REUSEADDR, &enabled, sizeof enabled);
  if (endpoint.family() == AF_INET6) {
    ::setsockopt(socket.get(), IPPROTO_IPV6, IPV6_V6ONLY, &enabled, sizeof enabled);
  }
  if (::bind(socket.get(), endpoint.get(), endpoint.length) != 0) {
    fail("bind to " + endpoint.text);
  }
  if (::listen(socket.get(), 4096) != 0) {
    fail("listen on " + endpoint.text);
  }
  watch(socket.get(), EPOLLIN);
  std::fprintf(stderr, "bench_server: listening on %s (%s)\n", endpoint.text.c_str(),
               mode == Mode::echo ? "echo" : "reply and close");
  int fd = socket.get();
  listeners_.emplace(fd, std::make_pair(std::move(socket), mode));
}

void Server::accept_all(int listener, Mode mode) {
  for (;;) {
    int fd = ::accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      // EAGAIN ends the batch; ECONNABORTED and the like concern one client only.
      return;
    }
    int enabled = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &enabled, sizeof enabled);
    Connection connection;
    connection.socket.reset(fd);
    connection.mode = mode;
    watch(fd, EPOLLIN);
    connections_.insert_or_assign(fd, std::move(connection));
  }
}

void Server::set_waiting_to_write(Connection& connection, bool waiting) {
  if (connection.waiting_to_write == waiting) {
    return;
  }
  epoll_event event{};
  event.events = waiting ? EPOLLIN | EPOLLOUT : EPOLLIN;
  event.data.fd = connection.socket.get();
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, connection.socket.get(), &event);
  connection.waiting_to_write = waiting;
}

// Writes what is pending; returns false when the connection is finished.
bool Server::flush(Connection& connection) {
  while (!connection.pending.empty()) {
    ssize_t sent = ::send(connection.socket.get(), connection.pending.data(),
                          connection.pending.size(), MSG_NOSIGNAL);
    if (sent < 0 && errno == EAGAIN) {
      set_waiting_to_write(connection, true);
      return true;
    }
    if (sent < 0 && errno == EINTR) {
      continue;
    }
    if (sent < 0) {
      return false;
    }
    connection.pending.erase(0, static_cast<std::size_t>(sent));
  }
  set_waiting_to_write(connection, false);
  return !connection.close_after_flush;
}

// Reads what arrived and queues it as the reply; returns false when the connection is finished.
bool Server::read_and_reply(Connection& connection) {
  char buffer[65536];
  ssize_t got = ::read(connection.socket.get(), buffer, sizeof buffer);
  if (got == 0) {
    return false;
  }
  if (got < 0) {
    return errno == EAGAIN || errno == EINTR;
  }
  connection.pending.append(buffer, static_cast<std::size_t>(got));
  if (connection.mode == Mode::reply_close) {
    connection.close_after_flush = true;
  }
  return flush(connection);
}

void Server::handle(Connection& connection, std::uint32_t events) {
  bool open = true;
  if ((events & EPOLLOUT) != 0) {
    open = flush(connection);
  }
  if (open && (events & (EPOLLIN | EPOLLERR | EPOLLHUP)) != 0) {
    open = read_and_reply(connection);
  }
  if (!open) {
    connections_.erase(connection.socket.get());
  }
}

void Server::run() {
  std::vector<epoll_event> events(256);
  for (;;) {
    int count = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()), -1);
    if (count < 0 && errno != EINTR) {
      fail("epoll_wait");
    }
    for (int i = 0; i < count; ++i) {
      int fd = events[i].data.fd;
      if (auto listener = listeners_.find(fd); listener != listeners_.end()) {
        accept_all(fd, listener->second.second);
      } else if (auto connection = connections_.find(fd); connection != connections_.end()) {
        handle(connection->second, events[i].events);
      }
    }
  }
}

}  // namespace
}  // namespace sockgate::bench

int main(int argc, char** argv) {
  std::vector<std::string> echo;
  std::vector<std::string> reply_close;
  CLI::App app("Echo server for the sockgate load generators");
  app.add_option("--echo", echo, "Listen on ADDRESS:PORT and echo every byte; repeatable");
  app.add_option("--reply-close", reply_close,
                 "Listen on ADDRESS:PORT, echo the first bytes received, then close; repeatable");
  CLI11_PARSE(app, argc, argv);
  if (echo.empty() && reply_close.empty()) {
    std::fprintf(stderr, "bench_server: nothing to listen on: give --echo or --reply-close\n");
    return 2;
  }

  try {
    sockgate::bench::Server server;
    for (const std::string& text : echo) {
      server.listen_on(sockgate::bench::parse_endpoint(text), sockgate::bench::Mode::echo);
    }
    for (const std::string& text : reply_close) {
      server.listen_on(sockgate::bench::parse_endpoint(text), sockgate::bench::Mode::reply_close);
    }
    server.run();
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_server: %s\n", error.what());
    return 1;
  }
}
