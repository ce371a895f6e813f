// Reading the kernel's per-socket TCP counters through NETLINK_SOCK_DIAG (inet_diag), with
// libmnl. A source is one network namespace: a query socket for dumps of the open TCP sockets,
// and a socket subscribed to the TCP destroy groups, whose messages carry each closing socket's
// cookie and final tcp_info. Both work unprivileged; the subscription needs no capability
// because the kernel registers sock_diag with NL_CFG_F_NONROOT_RECV.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

struct mnl_socket;
struct nlmsghdr;

namespace sockgate::metrics {

// The tcp_info byte counters of one socket.
struct TcpCounters {
  // Sequence space acknowledged by the peer: payload, plus one for a SYN this side sent when
  // it opened the connection, plus one for its FIN once that is acknowledged.
  std::uint64_t bytes_acked = 0;
  // Sequence space received in order: payload, plus one for the peer's FIN when this socket
  // was still open to receive it.
  std::uint64_t bytes_received = 0;
  // Payload bytes transmitted, retransmissions included, and the retransmitted part. Both are
  // 0 when the kernel's tcp_info is too short to carry them (before Linux 4.19).
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_retrans = 0;
  bool has_bytes_sent = false;
};

// Payload bytes that the peer acknowledged. `active_open` is true when this side sent the SYN
// (a connect), whose sequence number bytes_acked counts. A FIN is excluded by capping at the
// payload transmitted once.
std::uint64_t payload_sent(const TcpCounters& counters, bool active_open);
// NOTE: tcp_info has no field that shows whether the peer's FIN was counted, so this includes
// one extra byte for a connection whose peer closed first while the socket was open.
std::uint64_t payload_received(const TcpCounters& counters);

// A socket's local address: IPv4 addresses in IPv4-mapped IPv6 form (::ffff:a.b.c.d).
struct LocalAddress {
  int family = 0;
  std::array<std::uint8_t, 16> address{};
  // Host byte order.
  std::uint16_t port = 0;

  bool is_wildcard() const;
};

// Reads the local address of a socket with getsockname. Returns false, with errno set, when
// that fails or the socket is not AF_INET or AF_INET6.
bool read_local_address(int fd, LocalAddress& local);

struct SocketRecord {
  std::uint64_t cookie = 0;
  LocalAddress local;
  TcpCounters counters;
};

enum class ParseResult { ok, no_info, malformed };
// Parses one SOCK_DIAG_BY_FAMILY message of an inet socket into `record`.
ParseResult parse_socket_message(const nlmsghdr* message, SocketRecord& record);

// Use of a socket's receive buffer as the kernel accounts it (SO_MEMINFO). Each queued message
// counts with the true size of its buffer, about three times its length for a destroy message.
struct DestroyQueueUse {
  std::size_t queued = 0;
  std::size_t capacity = 0;

  // queued / capacity, or 0 when the capacity is unknown.
  double fraction() const {
    return capacity == 0 ? 0.0 : static_cast<double>(queued) / static_cast<double>(capacity);
  }
};

// The two NETLINK_SOCK_DIAG sockets of one network namespace.
class SockDiagSource {
 public:
  // Receive buffer requested for the destroy socket. Without CAP_NET_ADMIN the kernel caps it
  // at net.core.rmem_max.
  static constexpr int kDestroyBufferBytes = 8 << 20;

  // Opens both sockets in the calling thread's network namespace. Throws std::system_error.
  static std::unique_ptr<SockDiagSource> open_current(
      int destroy_buffer_bytes = kDestroyBufferBytes);
  // Takes ownership of two NETLINK_SOCK_DIAG sockets made in another network namespace, and
  // subscribes the second one to the TCP destroy groups. Closes both and throws
  // std::system_error when either is not a NETLINK_SOCK_DIAG socket or the subscription fails.
  static std::unique_ptr<SockDiagSource> adopt(int query_fd, int destroy_fd);

  SockDiagSource(const SockDiagSource&) = delete;
  SockDiagSource& operator=(const SockDiagSource&) = delete;
  ~SockDiagSource();

  // Appends the open TCP sockets of `family` (AF_INET or AF_INET6) that carry tcp_info.
  // Returns 0, or a negative errno when the dump failed.
  int dump(int family, std::vector<SocketRecord>& out);
  // Appends the destroy messages that are queued, without blocking. Returns 0 once the queue is
  // empty, -ENOBUFS when messages were lost (the socket stays usable), or another negative
  // errno. `malformed` counts messages that could not be parsed.
  int read_destroyed(std::vector<SocketRecord>& out, std::uint64_t& malformed);

  // Bytes queued on the destroy socket and its receive buffer size, or zeros when the kernel
  // does not report them.
  DestroyQueueUse destroy_queue_use() const;

  int destroy_fd() const;
  // Receive buffer of the destroy socket in bytes, as the kernel reports it.
  int destroy_buffer_bytes() const;

 private:
  SockDiagSource(mnl_socket* query, mnl_socket* destroy);

  mnl_socket* query_;
  mnl_socket* destroy_;
  std::uint32_t sequence_ = 0;
  // Separate buffers, because dumps and destroy reads run on different threads.
  std::vector<char> query_buffer_;
  std::vector<char> destroy_buffer_;
};

}  // namespace sockgate::metrics
