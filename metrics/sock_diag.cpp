#include "metrics/sock_diag.hpp"

#include <arpa/inet.h>
#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <linux/tcp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>
#include <system_error>

namespace sockgate::metrics {
namespace {

// Larger than any netlink datagram the kernel builds for a dump (it caps them near 32 KiB).
constexpr std::size_t kReceiveBufferBytes = 64 << 10;

// The kernel's TCP state numbers (include/net/tcp_states.h), which no uapi header exports.
enum TcpState : std::uint8_t {
  kEstablished = 1,
  kSynSent = 2,
  kFinWait1 = 4,
  kFinWait2 = 5,
  kClose = 7,
  kCloseWait = 8,
  kLastAck = 9,
  kClosing = 11,
};

// TCP states of sockets that can still move data. TIME_WAIT entries carry the cookie of the
// socket they replaced but no tcp_info, and listeners carry no bytes.
constexpr std::uint32_t kOpenStates = (1U << kEstablished) | (1U << kSynSent) | (1U << kFinWait1) |
                                      (1U << kFinWait2) | (1U << kClose) | (1U << kCloseWait) |
                                      (1U << kLastAck) | (1U << kClosing);

std::system_error errno_error(const std::string& message) {
  return {errno, std::generic_category(), message};
}

void check_sock_diag_fd(int fd, const char* role) {
  int domain = 0;
  int protocol = 0;
  socklen_t length = sizeof domain;
  const bool is_netlink =
      getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &length) == 0 && domain == AF_NETLINK;
  length = sizeof protocol;
  const bool is_sock_diag = is_netlink &&
                            getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &length) == 0 &&
                            protocol == NETLINK_SOCK_DIAG;
  if (!is_sock_diag) {
    errno = EINVAL;
    throw errno_error("the " + std::string(role) + " descriptor " + std::to_string(fd) +
                      " is not a NETLINK_SOCK_DIAG socket; create it with socket(AF_NETLINK, "
                      "SOCK_RAW, NETLINK_SOCK_DIAG) inside the network namespace");
  }
}

void subscribe_destroy_groups(mnl_socket* socket, int buffer_bytes) {
  for (int group : {SKNLGRP_INET_TCP_DESTROY, SKNLGRP_INET6_TCP_DESTROY}) {
    if (mnl_socket_setsockopt(socket, NETLINK_ADD_MEMBERSHIP, &group, sizeof group) < 0) {
      throw errno_error("subscribing to the sock_diag TCP destroy group " + std::to_string(group) +
                        " failed");
    }
  }
  int bytes = buffer_bytes;
  const int fd = mnl_socket_get_fd(socket);
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &bytes, sizeof bytes) != 0) {
    // Unprivileged: the request is capped at net.core.rmem_max, which is not an error.
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bytes, sizeof bytes);
  }
}

// Binds an adopted socket that its creator left unbound. The kernel skips multicast delivery to
// a socket whose port id is 0, the sender id of kernel broadcasts.
void bind_if_unbound(mnl_socket* socket) {
  if (mnl_socket_get_portid(socket) != 0) {
    return;
  }
  if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
    throw errno_error("binding an adopted NETLINK_SOCK_DIAG socket failed");
  }
}

mnl_socket* open_bound_socket() {
  mnl_socket* socket = mnl_socket_open2(NETLINK_SOCK_DIAG, SOCK_CLOEXEC);
  if (socket == nullptr) {
    throw errno_error("opening a NETLINK_SOCK_DIAG socket failed");
  }
  if (mnl_socket_bind(socket, 0, MNL_SOCKET_AUTOPID) < 0) {
    const int saved = errno;
    mnl_socket_close(socket);
    errno = saved;
    throw errno_error("binding a NETLINK_SOCK_DIAG socket failed");
  }
  return socket;
}

struct ParseContext {
  std::vector<SocketRecord>* out;
  std::uint64_t malformed = 0;
};

int collect_record(const nlmsghdr* message, void* data) {
  auto* context = static_cast<ParseContext*>(data);
  SocketRecord record;
  switch (parse_socket_message(message, record)) {
    case ParseResult::ok:
      context->out->push_back(record);
      break;
    case ParseResult::no_info:
      break;
    case ParseResult::malformed:
      ++context->malformed;
      break;
  }
  return MNL_CB_OK;
}

// Stores the IPv4 address at `v4` (network byte order) as ::ffff:a.b.c.d.
void set_v4_mapped(std::array<std::uint8_t, 16>& address, const void* v4) {
  address.fill(0);
  address[10] = 0xff;
  address[11] = 0xff;
  std::memcpy(address.data() + 12, v4, 4);
}

}  // namespace

bool LocalAddress::is_wildcard() const {
  constexpr std::array<std::uint8_t, 16> kMappedAny = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  return address == std::array<std::uint8_t, 16>{} || address == kMappedAny;
}

bool read_local_address(int fd, LocalAddress& local) {
  sockaddr_storage storage{};
  socklen_t length = sizeof storage;
  if (getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) {
    return false;
  }
  local.family = storage.ss_family;
  if (storage.ss_family == AF_INET) {
    const auto* v4 = reinterpret_cast<const sockaddr_in*>(&storage);
    set_v4_mapped(local.address, &v4->sin_addr);
    local.port = ntohs(v4->sin_port);
    return true;
  }
  if (storage.ss_family == AF_INET6) {
    const auto* v6 = reinterpret_cast<const sockaddr_in6*>(&storage);
    std::memcpy(local.address.data(), &v6->sin6_addr, local.address.size());
    local.port = ntohs(v6->sin6_port);
    return true;
  }
  errno = EAFNOSUPPORT;
  return false;
}

std::uint64_t payload_sent(const TcpCounters& counters, bool active_open) {
  std::uint64_t acked = counters.bytes_acked;
  if (active_open && acked > 0) {
    acked -= 1;
  }
  if (!counters.has_bytes_sent) {
    return acked;
  }
  const std::uint64_t first_transmissions = counters.bytes_sent >= counters.bytes_retrans
                                                ? counters.bytes_sent - counters.bytes_retrans
                                                : 0;
  return std::min(acked, first_transmissions);
}

std::uint64_t payload_received(const TcpCounters& counters) {
  return counters.bytes_received;
}

ParseResult parse_socket_message(const nlmsghdr* message, SocketRecord& record) {
  if (message->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
      mnl_nlmsg_get_payload_len(message) < sizeof(inet_diag_msg)) {
    return ParseResult::malformed;
  }
  const auto* diag = static_cast<const inet_diag_msg*>(mnl_nlmsg_get_payload(message));
  record.cookie =
      diag->id.idiag_cookie[0] | (static_cast<std::uint64_t>(diag->id.idiag_cookie[1]) << 32);
  record.local.family = diag->idiag_family;
  record.local.port = ntohs(diag->id.idiag_sport);
  if (diag->idiag_family == AF_INET) {
    set_v4_mapped(record.local.address, &diag->id.idiag_src[0]);
  } else {
    std::memcpy(record.local.address.data(), diag->id.idiag_src, record.local.address.size());
  }

  const auto* tail = static_cast<const char*>(mnl_nlmsg_get_payload_tail(message));
  const auto* attribute =
      static_cast<const nlattr*>(mnl_nlmsg_get_payload_offset(message, sizeof(inet_diag_msg)));
  while (
      mnl_attr_ok(attribute, static_cast<int>(tail - reinterpret_cast<const char*>(attribute)))) {
    if (mnl_attr_get_type(attribute) == INET_DIAG_INFO) {
      tcp_info info{};
      const std::size_t length = mnl_attr_get_payload_len(attribute);
      std::memcpy(&info, mnl_attr_get_payload(attribute), std::min(length, sizeof info));
      record.counters.bytes_acked = info.tcpi_bytes_acked;
      record.counters.bytes_received = info.tcpi_bytes_received;
      record.counters.has_bytes_sent =
          length >= offsetof(tcp_info, tcpi_bytes_retrans) + sizeof info.tcpi_bytes_retrans;
      record.counters.bytes_sent = info.tcpi_bytes_sent;
      record.counters.bytes_retrans = info.tcpi_bytes_retrans;
      return ParseResult::ok;
    }
    attribute = mnl_attr_next(attribute);
  }
  return ParseResult::no_info;
}

std::unique_ptr<SockDiagSource> SockDiagSource::open_current(int destroy_buffer_bytes) {
  mnl_socket* query = open_bound_socket();
  mnl_socket* destroy = nullptr;
  try {
    destroy = open_bound_socket();
    subscribe_destroy_groups(destroy, destroy_buffer_bytes);
  } catch (...) {
    mnl_socket_close(query);
    if (destroy != nullptr) {
      mnl_socket_close(destroy);
    }
    throw;
  }
  return std::unique_ptr<SockDiagSource>(new SockDiagSource(query, destroy));
}

std::unique_ptr<SockDiagSource> SockDiagSource::adopt(int query_fd, int destroy_fd) {
  mnl_socket* query = nullptr;
  mnl_socket* destroy = nullptr;
  try {
    check_sock_diag_fd(query_fd, "query");
    check_sock_diag_fd(destroy_fd, "destroy");
    query = mnl_socket_fdopen(query_fd);
    destroy = mnl_socket_fdopen(destroy_fd);
    if (query == nullptr || destroy == nullptr) {
      throw errno_error("adopting the NETLINK_SOCK_DIAG descriptors failed");
    }
    bind_if_unbound(query);
    bind_if_unbound(destroy);
    subscribe_destroy_groups(destroy, kDestroyBufferBytes);
  } catch (...) {
    // mnl_socket_close closes the descriptor of an adopted socket, so each fd closes once.
    query != nullptr ? (void)mnl_socket_close(query) : (void)close(query_fd);
    destroy != nullptr ? (void)mnl_socket_close(destroy) : (void)close(destroy_fd);
    throw;
  }
  return std::unique_ptr<SockDiagSource>(new SockDiagSource(query, destroy));
}

SockDiagSource::SockDiagSource(mnl_socket* query, mnl_socket* destroy)
    : query_(query),
      destroy_(destroy),
      query_buffer_(kReceiveBufferBytes),
      destroy_buffer_(kReceiveBufferBytes) {}

SockDiagSource::~SockDiagSource() {
  mnl_socket_close(query_);
  mnl_socket_close(destroy_);
}

int SockDiagSource::dump(int family, std::vector<SocketRecord>& out) {
  nlmsghdr* request = mnl_nlmsg_put_header(query_buffer_.data());
  request->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  request->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  request->nlmsg_seq = ++sequence_;
  auto* diag =
      static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(request, sizeof(inet_diag_req_v2)));
  diag->sdiag_family = static_cast<std::uint8_t>(family);
  diag->sdiag_protocol = IPPROTO_TCP;
  diag->idiag_ext = 1U << (INET_DIAG_INFO - 1);
  diag->idiag_states = kOpenStates;
  if (mnl_socket_sendto(query_, request, request->nlmsg_len) < 0) {
    return -errno;
  }

  ParseContext context{&out};
  const unsigned int port = mnl_socket_get_portid(query_);
  int status = MNL_CB_OK;
  while (status > MNL_CB_STOP) {
    const ssize_t length = mnl_socket_recvfrom(query_, query_buffer_.data(), query_buffer_.size());
    if (length < 0 && errno == EINTR) {
      continue;
    }
    if (length < 0) {
      return -errno;
    }
    status = mnl_cb_run(query_buffer_.data(), static_cast<std::size_t>(length), sequence_, port,
                        collect_record, &context);
  }
  return status == MNL_CB_ERROR ? -errno : 0;
}

int SockDiagSource::read_destroyed(std::vector<SocketRecord>& out, std::uint64_t& malformed) {
  ParseContext context{&out};
  const int fd = mnl_socket_get_fd(destroy_);
  for (;;) {
    const ssize_t length = recv(fd, destroy_buffer_.data(), destroy_buffer_.size(), MSG_DONTWAIT);
    if (length < 0 && errno == EINTR) {
      continue;
    }
    if (length < 0) {
      malformed += context.malformed;
      return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
    }
    // Sequence number and port 0: multicast messages match any.
    (void)mnl_cb_run(destroy_buffer_.data(), static_cast<std::size_t>(length), 0, 0, collect_record,
                     &context);
  }
}

DestroyQueueUse SockDiagSource::destroy_queue_use() const {
  std::array<std::uint32_t, SK_MEMINFO_VARS> meminfo{};
  socklen_t length = sizeof meminfo;
  if (getsockopt(mnl_socket_get_fd(destroy_), SOL_SOCKET, SO_MEMINFO, meminfo.data(), &length) !=
          0 ||
      length < sizeof(std::uint32_t) * (SK_MEMINFO_RCVBUF + 1)) {
    return {};
  }
  return {meminfo[SK_MEMINFO_RMEM_ALLOC], meminfo[SK_MEMINFO_RCVBUF]};
}

int SockDiagSource::destroy_fd() const {
  return mnl_socket_get_fd(destroy_);
}

int SockDiagSource::destroy_buffer_bytes() const {
  int bytes = 0;
  socklen_t length = sizeof bytes;
  (void)getsockopt(mnl_socket_get_fd(destroy_), SOL_SOCKET, SO_RCVBUF, &bytes, &length);
  return bytes;
}

}  // namespace sockgate::metrics
