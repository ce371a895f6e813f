#include "metrics/sock_diag.hpp"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <system_error>

namespace sockgate::metrics {
namespace {

TcpCounters counters(std::uint64_t acked, std::uint64_t sent, std::uint64_t retrans) {
  return TcpCounters{acked, 0, sent, retrans, true};
}

TEST(PayloadSent, ActiveOpenExcludesSynAndFin) {
  // Open, all acknowledged: the SYN adds one.
  EXPECT_EQ(payload_sent(counters(1001, 1000, 0), true), 1000U);
  // Closed, FIN acknowledged: SYN and FIN add one each.
  EXPECT_EQ(payload_sent(counters(1002, 1000, 0), true), 1000U);
  // Data in flight: only what was acknowledged.
  EXPECT_EQ(payload_sent(counters(601, 1000, 0), true), 600U);
  // Connect that never completed.
  EXPECT_EQ(payload_sent(counters(0, 0, 0), true), 0U);
  // Retransmitted bytes are transmitted twice but count once.
  EXPECT_EQ(payload_sent(counters(1002, 1500, 500), true), 1000U);
}

TEST(PayloadSent, PassiveOpenHasNoSyn) {
  EXPECT_EQ(payload_sent(counters(777, 777, 0), false), 777U);
  EXPECT_EQ(payload_sent(counters(778, 777, 0), false), 777U);
}

TEST(PayloadSent, OldKernelWithoutBytesSentUsesAcked) {
  EXPECT_EQ(payload_sent(TcpCounters{1001, 0, 0, 0, false}, true), 1000U);
}

TEST(PayloadReceived, IsTheKernelsCount) {
  EXPECT_EQ(payload_received(TcpCounters{0, 4242, 0, 0, true}), 4242U);
}

// Builds a SOCK_DIAG_BY_FAMILY message with the given cookie and tcp_info length.
class MessageBuilder {
 public:
  nlmsghdr* build(std::uint64_t cookie, std::size_t info_length, bool with_info = true) {
    buffer_.fill(0);
    nlmsghdr* message = mnl_nlmsg_put_header(buffer_.data());
    message->nlmsg_type = SOCK_DIAG_BY_FAMILY;
    auto* diag =
        static_cast<inet_diag_msg*>(mnl_nlmsg_put_extra_header(message, sizeof(inet_diag_msg)));
    diag->idiag_family = AF_INET;
    diag->id.idiag_cookie[0] = static_cast<std::uint32_t>(cookie);
    diag->id.idiag_cookie[1] = static_cast<std::uint32_t>(cookie >> 32);
    if (with_info) {
      tcp_info info{};
      info.tcpi_bytes_acked = 1002;
      info.tcpi_bytes_received = 55;
      info.tcpi_bytes_sent = 1000;
      info.tcpi_bytes_retrans = 0;
      mnl_attr_put(message, INET_DIAG_INFO, static_cast<std::uint32_t>(info_length), &info);
    }
    return message;
  }

 private:
  alignas(nlmsghdr) std::array<char, 1024> buffer_{};
};

TEST(ParseSocketMessage, ReadsCookieAndCounters) {
  MessageBuilder builder;
  SocketRecord record;
  ASSERT_EQ(parse_socket_message(builder.build(0x1122334455667788ULL, sizeof(tcp_info)), record),
            ParseResult::ok);
  EXPECT_EQ(record.cookie, 0x1122334455667788ULL);
  EXPECT_EQ(record.counters.bytes_acked, 1002U);
  EXPECT_EQ(record.counters.bytes_received, 55U);
  EXPECT_EQ(record.counters.bytes_sent, 1000U);
  EXPECT_TRUE(record.counters.has_bytes_sent);
  EXPECT_EQ(payload_sent(record.counters, true), 1000U);
}

TEST(ParseSocketMessage, ShortTcpInfoHasNoBytesSent) {
  MessageBuilder builder;
  SocketRecord record;
  ASSERT_EQ(parse_socket_message(builder.build(7, offsetof(tcp_info, tcpi_segs_out)), record),
            ParseResult::ok);
  EXPECT_EQ(record.counters.bytes_acked, 1002U);
  EXPECT_FALSE(record.counters.has_bytes_sent);
  EXPECT_EQ(record.counters.bytes_sent, 0U);
}

TEST(ParseSocketMessage, MessageWithoutInfo) {
  MessageBuilder builder;
  SocketRecord record;
  EXPECT_EQ(parse_socket_message(builder.build(7, 0, false), record), ParseResult::no_info);
}

TEST(ParseSocketMessage, WrongTypeOrShortPayloadIsMalformed) {
  MessageBuilder builder;
  SocketRecord record;
  nlmsghdr* message = builder.build(7, sizeof(tcp_info));
  message->nlmsg_type = NLMSG_ERROR;
  EXPECT_EQ(parse_socket_message(message, record), ParseResult::malformed);

  message = builder.build(7, 0, false);
  message->nlmsg_len = NLMSG_HDRLEN + 8;
  EXPECT_EQ(parse_socket_message(message, record), ParseResult::malformed);
}

TEST(SockDiagSource, AdoptRejectsOtherSockets) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  try {
    (void)SockDiagSource::adopt(fds[0], fds[1]);
    FAIL() << "adopting a pipe succeeded";
  } catch (const std::system_error& error) {
    EXPECT_NE(std::string(error.what()).find("is not a NETLINK_SOCK_DIAG socket"),
              std::string::npos);
  }
  // adopt closed both descriptors.
  EXPECT_EQ(fcntl(fds[0], F_GETFD), -1);
  EXPECT_EQ(fcntl(fds[1], F_GETFD), -1);
}

}  // namespace
}  // namespace sockgate::metrics
