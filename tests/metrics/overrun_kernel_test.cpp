// Lost destroy messages: a destroy socket with the smallest receive buffer overflows when many
// TCP sockets close at once. The kernel then reports ENOBUFS, and the accounting reconciles the
// tracked sockets with a dump.
#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <system_error>

#include "loopback_tcp.hpp"
#include "metrics/byte_accounting.hpp"
#include "metrics/sock_diag.hpp"

namespace sockgate::metrics {
namespace {

using testing::connect_loopback;
using testing::Connection;
using testing::cookie_of;
using testing::receive_bytes;
using testing::send_bytes;
using testing::wait_until;

// The kernel raises any smaller request to its minimum socket buffer (2304 bytes on Linux 6.18
// x86-64, as SO_RCVBUF reports it).
constexpr int kTinyBuffer = 1;
constexpr std::size_t kConnections = 200;
constexpr std::size_t kBytesEach = 1000;

std::unique_ptr<SockDiagSource> open_tiny_source() {
  try {
    return SockDiagSource::open_current(kTinyBuffer);
  } catch (const std::system_error& error) {
    return nullptr;
  }
}

TEST(OverrunKernel, ReadReportsLostMessages) {
  auto source = open_tiny_source();
  if (source == nullptr) {
    GTEST_SKIP() << "no NETLINK_SOCK_DIAG destroy subscription on this kernel";
  }
  {
    std::vector<Connection> connections;
    for (std::size_t i = 0; i < kConnections; ++i) {
      connections.push_back(connect_loopback(AF_INET));
    }
  }
  std::vector<SocketRecord> records;
  std::uint64_t malformed = 0;
  int status = 0;
  ASSERT_TRUE(wait_until([&] {
    status = source->read_destroyed(records, malformed);
    return status != 0;
  })) << "no overrun after closing "
      << kConnections * 2 << " sockets";
  EXPECT_EQ(status, -ENOBUFS);
  EXPECT_LT(records.size(), kConnections * 2);
  EXPECT_EQ(malformed, 0U);

  // The kernel reports no further loss until the queue was read empty. Read until the flood of
  // destroy messages has ended, then a new message arrives again.
  std::size_t total = records.size();
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    total = records.size();
    while (source->read_destroyed(records, malformed) != 0) {
    }
  } while (records.size() != total);
  // The tiny buffer has room for about one message, so the listener's destroy message must be
  // read before the client closes. Other programs that close TCP sockets at the same moment can
  // still crowd the message out, so a few attempts are allowed.
  bool received = false;
  for (int attempt = 0; attempt < 5 && !received; ++attempt) {
    Connection one = connect_loopback(AF_INET);
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    (void)source->read_destroyed(records, malformed);
    records.clear();
    const std::uint64_t cookie = cookie_of(one.client);
    one.close_client();
    received = wait_until(
        [&] {
          (void)source->read_destroyed(records, malformed);
          return std::any_of(records.begin(), records.end(), [cookie](const SocketRecord& record) {
            return record.cookie == cookie;
          });
        },
        std::chrono::seconds(1));
  }
  EXPECT_TRUE(received) << "no destroy message arrived after the overrun";
}

TEST(OverrunKernel, AccountingReconcilesAfterLoss) {
  auto source = open_tiny_source();
  if (source == nullptr) {
    GTEST_SKIP() << "no NETLINK_SOCK_DIAG destroy subscription on this kernel";
  }
  std::atomic<std::uint64_t> overruns{0};
  ByteAccounting accounting([&overruns](ErrorKind kind, std::uint64_t count) {
    if (kind == ErrorKind::sock_diag_overrun) {
      overruns += count;
    }
  });
  const auto tcp_source = accounting.add_source(std::move(source));
  const auto cells = std::make_shared<TrafficCells>();

  std::vector<Connection> connections;
  for (std::size_t i = 0; i < kConnections; ++i) {
    connections.push_back(connect_loopback(AF_INET));
    accounting.track(*tcp_source, cookie_of(connections.back().client), cells, Opening::active);
    send_bytes(connections.back().client, kBytesEach);
    receive_bytes(connections.back().server, kBytesEach);
  }
  const std::uint64_t expected = kConnections * kBytesEach;
  ASSERT_TRUE(wait_until([&] {
    accounting.refresh();
    return cells->sent.load() == expected;
  })) << "sent "
      << cells->sent.load() << " tracked " << accounting.tracked() << " open "
      << cells->open_sockets.load();

  connections.clear();
  ASSERT_TRUE(wait_until([&] { return accounting.tracked() == 0; }));
  EXPECT_GE(overruns.load(), 1U);
  // Every socket's bytes were read before the loss, so the totals are still exact.
  EXPECT_EQ(cells->sent.load(), expected);
  EXPECT_EQ(cells->open_sockets.load(), 0);
}

}  // namespace
}  // namespace sockgate::metrics
