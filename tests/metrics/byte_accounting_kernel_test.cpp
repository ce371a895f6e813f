// Byte accounting against the kernel: loopback TCP connections made here, counted through
// NETLINK_SOCK_DIAG dumps and destroy messages. Runs unprivileged.
#include <gtest/gtest.h>

#include <cerrno>
#include <string>
#include <system_error>

#include "loopback_tcp.hpp"
#include "metrics/metrics.hpp"
#include "text_lines.hpp"

namespace sockgate::metrics {
namespace {

using rules::Action;
using testing::connect_loopback;
using testing::Connection;
using testing::cookie_of;
using testing::has_line;
using testing::receive_bytes;
using testing::send_bytes;
using testing::wait_until;

constexpr std::uint32_t kWeb = 0;

class ByteAccountingKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    try {
      source_ = metrics_.open_host_source();
    } catch (const std::system_error& error) {
      GTEST_SKIP() << "this kernel offers no NETLINK_SOCK_DIAG TCP destroy subscription to an "
                      "unprivileged user: "
                   << error.what();
    }
    series_ = metrics_.bind_rules(rules_, Action::pass);
  }

  void track(int fd, std::uint32_t rule = kWeb, Opening opening = Opening::active) {
    metrics_.track_socket(*source_, cookie_of(fd), *series_, rule, opening);
  }

  RuleSnapshot rule(std::size_t index) { return metrics_.snapshot().rules.at(index); }

  // Waits until every tracked socket's destroy message was applied.
  bool wait_all_closed() {
    return wait_until([this] { return metrics_.snapshot().tracked_sockets == 0; });
  }

  const std::vector<RuleLabels> rules_ = {{"web", Action::bypass, true, false}};
  Metrics metrics_;
  std::shared_ptr<TcpSource> source_;
  std::shared_ptr<const RuleSeries> series_;
};

TEST_F(ByteAccountingKernelTest, SentBytesExactAfterClose) {
  constexpr std::size_t kBytes = 1'000'003;
  Connection connection = connect_loopback(AF_INET);
  track(connection.client);
  send_bytes(connection.client, kBytes);
  receive_bytes(connection.server, kBytes);
  connection.close_client();
  ASSERT_TRUE(wait_all_closed());
  connection.close_server();

  const RuleSnapshot web = rule(kWeb);
  EXPECT_EQ(web.bytes_sent, kBytes);
  EXPECT_EQ(web.bytes_received, 0U);
  EXPECT_EQ(web.open_sockets, 0);
  EXPECT_TRUE(has_line(metrics_.text(),
                       R"(sockgate_rule_bytes_total{rule="web",direction="sent"} 1000003)"));
}

TEST_F(ByteAccountingKernelTest, ReceivedBytesExactWhenTrackedSideClosesFirst) {
  constexpr std::size_t kBytes = 300'007;
  Connection connection = connect_loopback(AF_INET);
  track(connection.client);
  send_bytes(connection.server, kBytes);
  receive_bytes(connection.client, kBytes);
  connection.close_client();
  // The peer closes only after the tracked socket is gone, so its FIN is never counted.
  ASSERT_TRUE(wait_all_closed());
  connection.close_server();

  EXPECT_EQ(rule(kWeb).bytes_received, kBytes);
  EXPECT_EQ(rule(kWeb).bytes_sent, 0U);
}

TEST_F(ByteAccountingKernelTest, PeerFinCountsOneReceivedByte) {
  // The kernel's tcpi_bytes_received counts the peer's FIN when the socket is still open to
  // receive it, and tcp_info cannot tell, so the count is one high.
  constexpr std::size_t kBytes = 5000;
  Connection connection = connect_loopback(AF_INET);
  track(connection.client);
  send_bytes(connection.server, kBytes);
  connection.close_server();
  receive_bytes(connection.client, kBytes);
  testing::expect_end_of_stream(connection.client);
  connection.close_client();
  ASSERT_TRUE(wait_all_closed());

  EXPECT_EQ(rule(kWeb).bytes_received, kBytes + 1);
}

TEST_F(ByteAccountingKernelTest, ManyShortConnectionsAllCounted) {
  constexpr std::size_t kConnections = 200;
  std::uint64_t expected = 0;
  for (std::size_t i = 0; i < kConnections; ++i) {
    const std::size_t bytes = 1000 + i;
    Connection connection = connect_loopback(AF_INET);
    track(connection.client);
    send_bytes(connection.client, bytes);
    receive_bytes(connection.server, bytes);
    expected += bytes;
  }
  // Every connection closed before the first scrape, so only destroy messages counted them.
  ASSERT_TRUE(wait_all_closed());
  const RuleSnapshot web = rule(kWeb);
  EXPECT_EQ(web.bytes_sent, expected);
  EXPECT_EQ(expected, 219'900U);
  EXPECT_EQ(web.open_sockets, 0);
  EXPECT_EQ(metrics_.snapshot().errors[static_cast<std::size_t>(ErrorKind::sock_diag_overrun)], 0U);
}

TEST_F(ByteAccountingKernelTest, OpenConnectionVisibleBeforeClose) {
  Connection connection = connect_loopback(AF_INET);
  track(connection.client);
  EXPECT_EQ(rule(kWeb).open_sockets, 1);
  EXPECT_TRUE(has_line(metrics_.text(), R"(sockgate_rule_open_sockets{rule="web"} 1)"));

  send_bytes(connection.client, 40'000);
  receive_bytes(connection.server, 40'000);
  send_bytes(connection.server, 1234);
  receive_bytes(connection.client, 1234);
  ASSERT_TRUE(wait_until([this] { return rule(kWeb).bytes_sent == 40'000; }))
      << "sent: " << rule(kWeb).bytes_sent;
  EXPECT_EQ(rule(kWeb).bytes_received, 1234U);
  EXPECT_TRUE(
      has_line(metrics_.text(), R"(sockgate_rule_bytes_total{rule="web",direction="sent"} 40000)"));

  send_bytes(connection.client, 2'000);
  receive_bytes(connection.server, 2'000);
  connection.close_client();
  ASSERT_TRUE(wait_all_closed());
  EXPECT_EQ(rule(kWeb).bytes_sent, 42'000U);
  EXPECT_EQ(rule(kWeb).open_sockets, 0);
}

TEST_F(ByteAccountingKernelTest, Ipv6SentAndReceivedExact) {
  Connection connection = connect_loopback(AF_INET6);
  track(connection.client);
  send_bytes(connection.client, 777'777);
  receive_bytes(connection.server, 777'777);
  send_bytes(connection.server, 4321);
  receive_bytes(connection.client, 4321);
  ASSERT_TRUE(wait_until([this] { return rule(kWeb).bytes_sent == 777'777; }));
  connection.close_client();
  ASSERT_TRUE(wait_all_closed());
  connection.close_server();

  EXPECT_EQ(rule(kWeb).bytes_sent, 777'777U);
  EXPECT_EQ(rule(kWeb).bytes_received, 4321U);
}

TEST_F(ByteAccountingKernelTest, PassiveSocketHasNoSynToSubtract) {
  Connection connection = connect_loopback(AF_INET);
  track(connection.server, kWeb, Opening::passive);
  send_bytes(connection.server, 65'536);
  receive_bytes(connection.client, 65'536);
  connection.close_server();
  ASSERT_TRUE(wait_all_closed());
  EXPECT_EQ(rule(kWeb).bytes_sent, 65'536U);
}

TEST_F(ByteAccountingKernelTest, DefaultRuleCountsToo) {
  Connection connection = connect_loopback(AF_INET);
  track(connection.client, rules::kDefaultRule);
  send_bytes(connection.client, 999);
  receive_bytes(connection.server, 999);
  connection.close_client();
  ASSERT_TRUE(wait_all_closed());
  EXPECT_TRUE(has_line(metrics_.text(),
                       R"(sockgate_rule_bytes_total{rule="default",direction="sent"} 999)"));
}

TEST_F(ByteAccountingKernelTest, KeptRuleContinuesAcrossRebind) {
  Connection connection = connect_loopback(AF_INET);
  track(connection.client);
  const std::vector<RuleLabels> reordered = {{"dns", Action::pass, true, false},
                                             {"web", Action::bypass, true, false}};
  metrics_.bind_rules(reordered, Action::pass);
  send_bytes(connection.client, 5555);
  receive_bytes(connection.server, 5555);
  connection.close_client();
  ASSERT_TRUE(wait_all_closed());
  EXPECT_EQ(rule(1).name, "web");
  EXPECT_EQ(rule(1).bytes_sent, 5555U);
  EXPECT_EQ(rule(0).bytes_sent, 0U);
}

TEST_F(ByteAccountingKernelTest, RemovedRuleStopsTrackingAndStaysRemoved) {
  Connection connection = connect_loopback(AF_INET);
  track(connection.client);
  metrics_.bind_rules({}, Action::pass);
  send_bytes(connection.client, 100);
  receive_bytes(connection.server, 100);

  const std::string text = metrics_.text();
  EXPECT_TRUE(testing::series_lines(text, R"(sockgate_rule_bytes_total{rule="web")").empty());
  EXPECT_EQ(metrics_.snapshot().tracked_sockets, 0U);

  // Tracking with the old binding after the rule was removed counts nothing.
  Connection late = connect_loopback(AF_INET);
  track(late.client);
  EXPECT_EQ(metrics_.snapshot().tracked_sockets, 0U);
  connection.close_client();
  late.close_client();
  EXPECT_TRUE(
      testing::series_lines(metrics_.text(), R"(sockgate_rule_bytes_total{rule="web")").empty());
}

TEST_F(ByteAccountingKernelTest, DroppedSourceKeepsCountsReadSoFar) {
  Connection connection = connect_loopback(AF_INET);
  track(connection.client);
  send_bytes(connection.client, 3000);
  receive_bytes(connection.server, 3000);
  ASSERT_TRUE(wait_until([this] { return rule(kWeb).bytes_sent == 3000; }));
  source_.reset();

  const RuleSnapshot web = rule(kWeb);
  EXPECT_EQ(web.bytes_sent, 3000U);
  EXPECT_EQ(web.open_sockets, 0);
  EXPECT_EQ(metrics_.snapshot().tracked_sockets, 0U);
}

TEST_F(ByteAccountingKernelTest, CountersNeverDecreaseBetweenScrapes) {
  Connection connection = connect_loopback(AF_INET);
  track(connection.client);
  std::uint64_t previous = 0;
  for (int round = 0; round < 20; ++round) {
    send_bytes(connection.client, 10'000);
    receive_bytes(connection.server, 10'000);
    const std::uint64_t now = rule(kWeb).bytes_sent;
    EXPECT_GE(now, previous);
    previous = now;
  }
  connection.close_client();
  ASSERT_TRUE(wait_all_closed());
  EXPECT_EQ(rule(kWeb).bytes_sent, 200'000U);
}

}  // namespace
}  // namespace sockgate::metrics
