// Byte accounting of TCP sockets by cookie, without holding any descriptor of them.
//
// The core registers a socket with its cookie and rule when it makes it. Open sockets are read
// by a sock_diag dump of their source when metrics are collected. Closed sockets are counted
// from the destroy messages of each source, so a socket that lives between two scrapes is
// counted in full. A reader thread reads them in batches: after each read it pauses for up to
// 10 ms (ReaderPacing), so that a host that closes thousands of TCP sockets per second does
// not wake it once per socket. refresh() reads the queued messages before it dumps, so a
// scrape right after a close counts the socket's final bytes. A rule's counter is the final
// count of its closed sockets plus the latest count of its open ones, and never decreases.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <thread>

#include "metrics/families.hpp"
#include "metrics/reader_pacing.hpp"
#include "metrics/rule_series.hpp"
#include "metrics/sock_diag.hpp"

namespace sockgate::metrics {

// Side of a connection that sent the SYN: a socket that connected (active), or one that
// accept returned (passive).
enum class Opening : std::uint8_t { active, passive };

struct AccountingState;

// A network namespace whose TCP sockets can be tracked. Dropping the last reference stops its
// tracking: its sockets keep the counts read so far, and its netlink sockets are closed.
class TcpSource {
 public:
  TcpSource(const TcpSource&) = delete;
  TcpSource& operator=(const TcpSource&) = delete;
  ~TcpSource();

 private:
  friend class ByteAccounting;
  TcpSource(std::weak_ptr<AccountingState> state, std::uint64_t id);

  std::weak_ptr<AccountingState> state_;
  std::uint64_t id_;
};

class ByteAccounting {
 public:
  using ErrorCounter = std::function<void(ErrorKind, std::uint64_t)>;

  // Starts the thread that reads destroy messages, pausing up to `max_pause` after each read.
  // `count_error` is called from that thread and from refresh().
  explicit ByteAccounting(ErrorCounter count_error,
                          std::chrono::microseconds max_pause = ReaderPacing::kDefaultMaxPause);
  ByteAccounting(const ByteAccounting&) = delete;
  ByteAccounting& operator=(const ByteAccounting&) = delete;
  ~ByteAccounting();

  std::shared_ptr<TcpSource> add_source(std::unique_ptr<SockDiagSource> source);

  // Starts counting the socket `cookie` of `source` into `cells`. Call it before anything else
  // can close the socket (before installing it into the container), because the final counts
  // of a socket that closed before it was tracked are lost. Ignores a cookie already tracked,
  // null or retired cells, and a source that was dropped.
  void track(const TcpSource& source, std::uint64_t cookie, std::shared_ptr<TrafficCells> cells,
             Opening opening);

  // Counts the sockets that the listening socket `cookie`, bound to `local`, accepts into
  // `cells`, until it closes. They are found by their local port and address, in the dumps and
  // the destroy messages, because accept is not trapped. Ignores what track() ignores.
  void track_listener(const TcpSource& source, std::uint64_t cookie, const LocalAddress& local,
                      std::shared_ptr<TrafficCells> cells);

  // Applies the queued destroy messages, then reads the counts of the open tracked sockets from
  // the kernel, and publishes both.
  void refresh();

  // Tracked sockets that are still open.
  std::size_t tracked() const;
  // Times the reader thread woke up to read destroy messages.
  std::uint64_t reader_wakeups() const;

 private:
  void read_destroy_messages();

  std::shared_ptr<AccountingState> state_;
  std::chrono::microseconds max_pause_;
  std::thread reader_;
};

}  // namespace sockgate::metrics
