// Loopback TCP connections made by the tests themselves, and waiting for the kernel's
// asynchronous sock_diag destroy messages.
#pragma once

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <thread>
#include <utility>
#include <vector>

namespace sockgate::metrics::testing {

// A connected pair: `client` connected to a listener on the loopback address, `server` the
// socket that accept returned. Both close with the object unless a test closed them first.
struct Connection {
  int client = -1;
  int server = -1;

  Connection() = default;
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  Connection(Connection&& other) noexcept
      : client(std::exchange(other.client, -1)), server(std::exchange(other.server, -1)) {}
  ~Connection() {
    close_client();
    close_server();
  }
  void close_client() {
    if (client >= 0) {
      close(std::exchange(client, -1));
    }
  }
  void close_server() {
    if (server >= 0) {
      close(std::exchange(server, -1));
    }
  }
};

inline Connection connect_loopback(int family) {
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (family == AF_INET6) {
    auto* address = reinterpret_cast<sockaddr_in6*>(&storage);
    address->sin6_family = AF_INET6;
    address->sin6_addr = in6addr_loopback;
    length = sizeof *address;
  } else {
    auto* address = reinterpret_cast<sockaddr_in*>(&storage);
    address->sin_family = AF_INET;
    address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof *address;
  }
  auto* address = reinterpret_cast<sockaddr*>(&storage);
  const int listener = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_GE(listener, 0);
  EXPECT_EQ(bind(listener, address, length), 0);
  EXPECT_EQ(listen(listener, 16), 0);
  EXPECT_EQ(getsockname(listener, address, &length), 0);

  Connection connection;
  connection.client = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  EXPECT_EQ(connect(connection.client, address, length), 0);
  connection.server = accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
  EXPECT_GE(connection.server, 0);
  close(listener);
  return connection;
}

inline std::uint64_t cookie_of(int fd) {
  std::uint64_t cookie = 0;
  socklen_t length = sizeof cookie;
  EXPECT_EQ(getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &length), 0);
  return cookie;
}

inline void send_bytes(int fd, std::size_t count) {
  const std::vector<char> chunk(64 * 1024, 'x');
  while (count > 0) {
    const ssize_t sent = send(fd, chunk.data(), std::min(count, chunk.size()), MSG_NOSIGNAL);
    ASSERT_GT(sent, 0);
    count -= static_cast<std::size_t>(sent);
  }
}

inline void receive_bytes(int fd, std::size_t count) {
  std::vector<char> chunk(64 * 1024);
  while (count > 0) {
    const ssize_t received = recv(fd, chunk.data(), std::min(count, chunk.size()), 0);
    ASSERT_GT(received, 0);
    count -= static_cast<std::size_t>(received);
  }
}

inline void expect_end_of_stream(int fd) {
  char byte = 0;
  EXPECT_EQ(recv(fd, &byte, 1, 0), 0);
}

// Polls `done` until it returns true or `timeout` passes, and returns its last result.
template <typename Predicate>
bool wait_until(Predicate done, std::chrono::milliseconds timeout = std::chrono::seconds(5)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return done();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

}  // namespace sockgate::metrics::testing
