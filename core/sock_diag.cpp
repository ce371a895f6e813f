#include "core/sock_diag.hpp"

#include <libmnl/libmnl.h>
#include <linux/inet_diag.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "core/kernel.hpp"

namespace sockgate {
namespace {

int collect_listener(const nlmsghdr* header, void* data) {
  if (header->nlmsg_type != SOCK_DIAG_BY_FAMILY) {
    return MNL_CB_OK;
  }
  const auto* message = static_cast<const inet_diag_msg*>(mnl_nlmsg_get_payload(header));
  TcpListener listener;
  listener.family = message->idiag_family;
  listener.port = ntohs(message->id.idiag_sport);
  std::uint64_t cookie = message->id.idiag_cookie[0] |
                         (static_cast<std::uint64_t>(message->id.idiag_cookie[1]) << 32);
  listener.cookie = cookie;
  if (message->idiag_family == AF_INET) {
    in_addr address{};
    std::memcpy(&address, message->id.idiag_src, sizeof address);
    listener.address = rules::IpAddress::from_v4(address);
  } else {
    in6_addr address{};
    std::memcpy(&address, message->id.idiag_src, sizeof address);
    listener.address = rules::IpAddress::from_v6(address);
  }
  static_cast<std::vector<TcpListener>*>(data)->push_back(listener);
  return MNL_CB_OK;
}

void dump_family(int sock_diag, int family, std::vector<TcpListener>& listeners) {
  std::array<char, 16384> buffer{};
  nlmsghdr* header = mnl_nlmsg_put_header(buffer.data());
  header->nlmsg_type = SOCK_DIAG_BY_FAMILY;
  header->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  static std::uint32_t sequence = 1;
  header->nlmsg_seq = __atomic_add_fetch(&sequence, 1, __ATOMIC_RELAXED);
  auto* request =
      static_cast<inet_diag_req_v2*>(mnl_nlmsg_put_extra_header(header, sizeof(inet_diag_req_v2)));
  request->sdiag_family = static_cast<std::uint8_t>(family);
  request->sdiag_protocol = IPPROTO_TCP;
  request->idiag_states = 1U << TCP_LISTEN;
  if (::send(sock_diag, header, header->nlmsg_len, 0) < 0) {
    throw_errno("sending a sock_diag dump request");
  }
  for (;;) {
    ssize_t length = ::recv(sock_diag, buffer.data(), buffer.size(), 0);
    if (length < 0 && errno == EINTR) {
      continue;
    }
    if (length < 0) {
      throw_errno("reading a sock_diag dump");
    }
    int result = mnl_cb_run(buffer.data(), static_cast<std::size_t>(length), header->nlmsg_seq,
                            0, collect_listener, &listeners);
    if (result == MNL_CB_STOP) {
      return;
    }
    if (result == MNL_CB_ERROR) {
      throw_errno("parsing a sock_diag dump");
    }
  }
}

}  // namespace

std::vector<TcpListener> dump_tcp_listeners(int sock_diag) {
  std::vector<TcpListener> listeners;
  dump_family(sock_diag, AF_INET, listeners);
  dump_family(sock_diag, AF_INET6, listeners);
  return listeners;
}

}  // namespace sockgate
