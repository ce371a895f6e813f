// Connections accepted on a tracked listener, as on a bypassed bind: accept is not trapped, so
// they are found by their local port in the sock_diag dumps and destroy messages.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <system_error>
#include <vector>

#include "loopback_tcp.hpp"
#include "metrics/metrics.hpp"
#include "text_lines.hpp"

namespace sockgate::metrics {
namespace {

using rules::Action;
using testing::receive_bytes;
using testing::send_bytes;
using testing::wait_until;

constexpr std::uint32_t kWebIn = 0;
constexpr std::uint32_t kOther = 1;

// A listening socket on an ephemeral port: of 127.0.0.1 for AF_INET, of the wildcard address
// for AF_INET6, which also accepts IPv4 clients unless `v6only`.
class Listener {
 public:
  Listener(int family, bool v6only = true) : family_(family) {
    fd_ = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int flag = v6only ? 1 : 0;
    if (family == AF_INET6) {
      EXPECT_EQ(setsockopt(fd_, IPPROTO_IPV6, IPV6_V6ONLY, &flag, sizeof flag), 0);
    }
    sockaddr_storage storage{};
    socklen_t length = family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
    storage.ss_family = static_cast<sa_family_t>(family);
    if (family == AF_INET) {
      reinterpret_cast<sockaddr_in*>(&storage)->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    }
    EXPECT_EQ(bind(fd_, reinterpret_cast<sockaddr*>(&storage), length), 0);
    EXPECT_EQ(listen(fd_, 64), 0);
    EXPECT_EQ(getsockname(fd_, reinterpret_cast<sockaddr*>(&storage), &length), 0);
    port_ = ntohs(family == AF_INET6 ? reinterpret_cast<sockaddr_in6*>(&storage)->sin6_port
                                     : reinterpret_cast<sockaddr_in*>(&storage)->sin_port);
  }
  Listener(const Listener&) = delete;
  Listener& operator=(const Listener&) = delete;
  ~Listener() { close_now(); }

  int fd() const { return fd_; }
  void close_now() {
    if (fd_ >= 0) {
      close(fd_);
      fd_ = -1;
    }
  }

  // Connects a client from `family` to the listener's loopback address and accepts it.
  testing::Connection connect_client(int family) {
    sockaddr_storage storage{};
    socklen_t length = 0;
    if (family == AF_INET6) {
      auto* address = reinterpret_cast<sockaddr_in6*>(&storage);
      address->sin6_family = AF_INET6;
      address->sin6_addr = in6addr_loopback;
      address->sin6_port = htons(port_);
      length = sizeof *address;
    } else {
      auto* address = reinterpret_cast<sockaddr_in*>(&storage);
      address->sin_family = AF_INET;
      address->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      address->sin_port = htons(port_);
      length = sizeof *address;
    }
    testing::Connection connection;
    connection.client = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    EXPECT_EQ(connect(connection.client, reinterpret_cast<sockaddr*>(&storage), length), 0);
    connection.server = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    EXPECT_GE(connection.server, 0);
    return connection;
  }

 private:
  int family_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
};

class ListenerKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      source_ = metrics_.open_host_source();
    } catch (const std::system_error& error) {
      GTEST_SKIP() << "no NETLINK_SOCK_DIAG destroy subscription for this user: " << error.what();
    }
    series_ = metrics_.bind_rules(rules_, Action::pass);
  }

  RuleSnapshot rule(std::size_t index) { return metrics_.snapshot().rules.at(index); }

  const std::vector<RuleLabels> rules_ = {{"web-in", Action::bypass, false, true},
                                          {"other", Action::bypass, false, true}};
  Metrics metrics_;
  std::shared_ptr<TcpSource> source_;
  std::shared_ptr<const RuleSeries> series_;
};

TEST_F(ListenerKernelTest, AcceptedSocketsCountedFromDestroyMessages) {
  Listener listener(AF_INET);
  ASSERT_TRUE(metrics_.track_listener(*source_, listener.fd(), *series_, kWebIn));

  std::uint64_t expected_sent = 0;
  std::uint64_t expected_received = 0;
  std::vector<testing::Connection> connections;
  for (std::size_t i = 0; i < 50; ++i) {
    testing::Connection connection = listener.connect_client(AF_INET);
    send_bytes(connection.client, 500 + i);
    receive_bytes(connection.server, 500 + i);
    send_bytes(connection.server, 1000 + 2 * i);
    receive_bytes(connection.client, 1000 + 2 * i);
    // The accepted side closes first, and its client stays open, so no FIN reaches it.
    connection.close_server();
    expected_received += 500 + i;
    expected_sent += 1000 + 2 * i;
    connections.push_back(std::move(connection));
  }
  // A scrape may adopt a socket before its destroy message arrives, so wait for both.
  ASSERT_TRUE(wait_until([&] {
    const RuleSnapshot web_in = rule(kWebIn);
    return web_in.bytes_sent == expected_sent && web_in.open_sockets == 0;
  })) << "sent: "
      << rule(kWebIn).bytes_sent << ", expected " << expected_sent
      << ", open: " << rule(kWebIn).open_sockets;
  EXPECT_EQ(rule(kWebIn).bytes_received, expected_received);
  EXPECT_EQ(rule(kOther).bytes_sent, 0U);
}

TEST_F(ListenerKernelTest, OpenAcceptedSocketsVisibleAndOutliveListener) {
  Listener listener(AF_INET);
  ASSERT_TRUE(metrics_.track_listener(*source_, listener.fd(), *series_, kWebIn));
  std::vector<testing::Connection> connections;
  for (int i = 0; i < 3; ++i) {
    connections.push_back(listener.connect_client(AF_INET));
    send_bytes(connections.back().server, 10'000);
    receive_bytes(connections.back().client, 10'000);
  }
  ASSERT_TRUE(wait_until([&] { return rule(kWebIn).bytes_sent == 30'000; }));
  EXPECT_EQ(rule(kWebIn).open_sockets, 3);
  EXPECT_TRUE(testing::has_line(metrics_.text(), R"(sockgate_rule_open_sockets{rule="web-in"} 3)"));

  // The listener closes first; its accepted sockets keep counting until they close.
  listener.close_now();
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& connection : connections) {
    send_bytes(connection.server, 5'000);
    receive_bytes(connection.client, 5'000);
    connection.close_server();
  }
  ASSERT_TRUE(wait_until([&] { return rule(kWebIn).open_sockets == 0; }));
  EXPECT_EQ(rule(kWebIn).bytes_sent, 45'000U);
}

TEST_F(ListenerKernelTest, DualStackListenerCountsBothFamilies) {
  Listener listener(AF_INET6, false);
  ASSERT_TRUE(metrics_.track_listener(*source_, listener.fd(), *series_, kWebIn));
  testing::Connection v4 = listener.connect_client(AF_INET);
  testing::Connection v6 = listener.connect_client(AF_INET6);
  send_bytes(v4.server, 4'000);
  receive_bytes(v4.client, 4'000);
  send_bytes(v6.server, 6'000);
  receive_bytes(v6.client, 6'000);
  v4.close_server();
  v6.close_server();
  ASSERT_TRUE(wait_until([&] { return rule(kWebIn).bytes_sent == 10'000; }))
      << "sent: " << rule(kWebIn).bytes_sent;
}

TEST_F(ListenerKernelTest, OtherPortsAreNotCounted) {
  Listener tracked(AF_INET);
  Listener untracked(AF_INET);
  ASSERT_TRUE(metrics_.track_listener(*source_, tracked.fd(), *series_, kWebIn));
  testing::Connection counted = tracked.connect_client(AF_INET);
  testing::Connection ignored = untracked.connect_client(AF_INET);
  send_bytes(ignored.server, 7'777);
  receive_bytes(ignored.client, 7'777);
  send_bytes(counted.server, 3'333);
  receive_bytes(counted.client, 3'333);
  ignored.close_server();
  counted.close_server();
  ASSERT_TRUE(wait_until([&] { return rule(kWebIn).bytes_sent == 3'333; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  EXPECT_EQ(rule(kWebIn).bytes_sent, 3'333U);
}

TEST_F(ListenerKernelTest, RejectsNonTcpDescriptor) {
  const int udp = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  EXPECT_FALSE(metrics_.track_listener(*source_, udp, *series_, kWebIn));
  close(udp);
  EXPECT_FALSE(metrics_.track_listener(*source_, -1, *series_, kWebIn));
}

}  // namespace
}  // namespace sockgate::metrics
