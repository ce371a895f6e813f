// Destroy messages read in batches: the reader thread pauses after each read, refresh() reads
// what is queued itself, and the reader wakes up far less often than sockets close. Runs
// unprivileged against loopback connections.
#include <gtest/gtest.h>

#include <chrono>
#include <system_error>
#include <thread>

#include "loopback_tcp.hpp"
#include "metrics/byte_accounting.hpp"
#include "metrics/sock_diag.hpp"

namespace sockgate::metrics {
namespace {

using std::chrono::milliseconds;
using testing::connect_loopback;
using testing::Connection;
using testing::cookie_of;
using testing::receive_bytes;
using testing::send_bytes;
using testing::wait_until;

std::unique_ptr<SockDiagSource> open_source() {
  try {
    return SockDiagSource::open_current();
  } catch (const std::system_error& error) {
    return nullptr;
  }
}

// Closes one untracked connection and waits until the reader thread woke up for it, or for
// another socket of the namespace; the reader then pauses.
bool wake_reader_once(const ByteAccounting& accounting) {
  const std::uint64_t before = accounting.reader_wakeups();
  { Connection other = connect_loopback(AF_INET); }
  return wait_until([&] { return accounting.reader_wakeups() > before; });
}

TEST(DestroyBatchingKernel, RefreshCountsSocketClosedDuringPause) {
  auto diag = open_source();
  if (diag == nullptr) {
    GTEST_SKIP() << "no NETLINK_SOCK_DIAG destroy subscription on this kernel";
  }
  // A pause far longer than the test, so only refresh() can apply the destroy message.
  auto accounting =
      std::make_unique<ByteAccounting>([](ErrorKind, std::uint64_t) {}, std::chrono::seconds(60));
  const auto source = accounting->add_source(std::move(diag));
  const auto cells = std::make_shared<TrafficCells>();
  ASSERT_TRUE(wake_reader_once(*accounting));
  const std::uint64_t wakeups = accounting->reader_wakeups();

  {
    Connection connection = connect_loopback(AF_INET);
    accounting->track(*source, cookie_of(connection.client), cells, Opening::active);
    send_bytes(connection.client, 4'321);
    receive_bytes(connection.server, 4'321);
  }
  // The kernel sends destroy messages from a work queue, so the message may come a little
  // after the close.
  ASSERT_TRUE(wait_until(
      [&] {
        accounting->refresh();
        return accounting->tracked() == 0;
      },
      milliseconds(2'000)));
  EXPECT_EQ(cells->sent.load(), 4'321U);
  EXPECT_EQ(cells->open_sockets.load(), 0);

  // The reader has been in its 60 s pause since the wake-up above, so the count came from
  // refresh().
  EXPECT_EQ(accounting->reader_wakeups(), wakeups);
  // Stopping ends the pause at once.
  const auto stop_started = std::chrono::steady_clock::now();
  accounting.reset();
  EXPECT_LT(std::chrono::steady_clock::now() - stop_started, milliseconds(1'000));
}

TEST(DestroyBatchingKernel, ReaderWakesOncePerPause) {
  auto diag = open_source();
  if (diag == nullptr) {
    GTEST_SKIP() << "no NETLINK_SOCK_DIAG destroy subscription on this kernel";
  }
  constexpr auto kPause = milliseconds(20);
  constexpr std::size_t kConnections = 100;
  ByteAccounting accounting([](ErrorKind, std::uint64_t) {}, kPause);
  const auto source = accounting.add_source(std::move(diag));
  const auto cells = std::make_shared<TrafficCells>();

  const std::uint64_t wakeups_before = accounting.reader_wakeups();
  const auto started = std::chrono::steady_clock::now();
  for (std::size_t i = 0; i < kConnections; ++i) {
    Connection connection = connect_loopback(AF_INET);
    accounting.track(*source, cookie_of(connection.client), cells, Opening::active);
    send_bytes(connection.client, 100);
    receive_bytes(connection.server, 100);
    std::this_thread::sleep_for(milliseconds(1));
  }
  // Without refresh(): the reader thread applies every message on its own.
  ASSERT_TRUE(wait_until([&] { return accounting.tracked() == 0; }));
  const auto elapsed = std::chrono::steady_clock::now() - started;
  const std::uint64_t wakeups = accounting.reader_wakeups() - wakeups_before;

  EXPECT_EQ(cells->sent.load(), kConnections * 100);
  // 200 sockets closed, at least 1 ms apart per connection. Every wake-up is followed by a
  // pause, which shrinks only when the receive buffer is a quarter full.
  const auto pauses = static_cast<std::uint64_t>(elapsed / kPause);
  EXPECT_LE(wakeups, pauses + 2) << "over " << elapsed.count() / 1'000'000 << " ms";
  EXPECT_LT(wakeups, kConnections / 2);
}

}  // namespace
}  // namespace sockgate::metrics
