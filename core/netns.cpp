#include "core/netns.hpp"

#include <libmnl/libmnl.h>
#include <linux/if_addr.h>
#include <netinet/in.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "core/kernel.hpp"

namespace sockgate {
namespace {

constexpr std::size_t kMaxRequests = 12;

// Runs in the forked child: only system calls, no allocation, because another thread of the
// gateway may have held the allocator's lock at fork time.
[[noreturn]] void make_sockets_in_child(int pidfd, int channel,
                                        std::span<const SocketRequest> requests) {
  if (::setns(pidfd, CLONE_NEWUSER | CLONE_NEWNET) != 0 && ::setns(pidfd, CLONE_NEWNET) != 0) {
    int error = errno;
    ::send(channel, &error, sizeof error, MSG_NOSIGNAL);
    ::_exit(1);
  }
  std::array<int, kMaxRequests> fds{};
  for (std::size_t i = 0; i < requests.size(); ++i) {
    fds[i] = ::socket(requests[i].domain, requests[i].type | SOCK_CLOEXEC, requests[i].protocol);
    if (fds[i] < 0) {
      int error = errno;
      ::send(channel, &error, sizeof error, MSG_NOSIGNAL);
      ::_exit(1);
    }
  }
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * kMaxRequests)] = {};
  int status = 0;
  iovec iov{&status, sizeof status};
  msghdr message{};
  message.msg_iov = &iov;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = CMSG_SPACE(sizeof(int) * requests.size());
  cmsghdr* header = CMSG_FIRSTHDR(&message);
  header->cmsg_level = SOL_SOCKET;
  header->cmsg_type = SCM_RIGHTS;
  header->cmsg_len = CMSG_LEN(sizeof(int) * requests.size());
  std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * requests.size());
  ::_exit(::sendmsg(channel, &message, MSG_NOSIGNAL) < 0 ? 1 : 0);
}

void check_ack(const nlmsghdr* header) {
  if (header->nlmsg_type == NLMSG_ERROR) {
    const auto* error = static_cast<const nlmsgerr*>(mnl_nlmsg_get_payload(header));
    if (error->error != 0) {
      throw errno_error(-error->error, "RTM_GETADDR");
    }
  }
}

int store_attribute(const nlattr* attribute, void* data) {
  auto& attributes = *static_cast<std::array<const nlattr*, IFA_MAX + 1>*>(data);
  int type = mnl_attr_get_type(attribute);
  if (type >= 0 && type <= IFA_MAX) {
    attributes[static_cast<std::size_t>(type)] = attribute;
  }
  return MNL_CB_OK;
}

int collect_prefix(const nlmsghdr* header, void* data) {
  if (header->nlmsg_type != RTM_NEWADDR) {
    return MNL_CB_OK;
  }
  const auto* message = static_cast<const ifaddrmsg*>(mnl_nlmsg_get_payload(header));
  std::array<const nlattr*, IFA_MAX + 1> attributes{};
  mnl_attr_parse(header, sizeof(ifaddrmsg), store_attribute, &attributes);
  // IFA_LOCAL is the interface's own address on point-to-point links; IFA_ADDRESS otherwise.
  const nlattr* address_attribute =
      attributes[IFA_LOCAL] != nullptr ? attributes[IFA_LOCAL] : attributes[IFA_ADDRESS];
  if (address_attribute == nullptr) {
    return MNL_CB_OK;
  }
  rules::IpAddress address;
  unsigned length = message->ifa_prefixlen;
  if (message->ifa_family == AF_INET &&
      mnl_attr_get_payload_len(address_attribute) >= sizeof(in_addr)) {
    address = rules::IpAddress::from_v4(
        *static_cast<const in_addr*>(mnl_attr_get_payload(address_attribute)));
    length += 96;
  } else if (message->ifa_family == AF_INET6 &&
             mnl_attr_get_payload_len(address_attribute) >= sizeof(in6_addr)) {
    address = rules::IpAddress::from_v6(
        *static_cast<const in6_addr*>(mnl_attr_get_payload(address_attribute)));
  } else {
    return MNL_CB_OK;
  }
  auto* prefixes = static_cast<std::vector<IpPrefix>*>(data);
  prefixes->push_back({address, 128});
  IpPrefix subnet{address, std::min(length, 128U)};
  for (unsigned bit = subnet.length; bit < 128; ++bit) {
    subnet.network.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80U >> (bit % 8)));
  }
  prefixes->push_back(subnet);
  return MNL_CB_OK;
}

}  // namespace

std::vector<UniqueFd> open_sockets_in_netns(int pidfd, std::span<const SocketRequest> requests) {
  if (requests.empty() || requests.size() > kMaxRequests) {
    throw errno_error(EINVAL, "open_sockets_in_netns: 1 to 12 sockets");
  }
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0) {
    throw_errno("socketpair");
  }
  UniqueFd parent_end(pair[0]);
  UniqueFd child_end(pair[1]);
  pid_t child = ::fork();
  if (child < 0) {
    throw_errno("fork");
  }
  if (child == 0) {
    make_sockets_in_child(pidfd, child_end.get(), requests);
  }
  child_end.reset();
  std::vector<UniqueFd> fds;
  int status_word = 0;
  std::size_t received = 0;
  try {
    received = receive_fds(parent_end.get(), fds, requests.size(),
                           std::as_writable_bytes(std::span(&status_word, 1)));
  } catch (...) {
    ::waitpid(child, nullptr, 0);
    throw;
  }
  int exit_status = 0;
  ::waitpid(child, &exit_status, 0);
  if (fds.size() != requests.size()) {
    int error = received == sizeof status_word && status_word != 0 ? status_word : EPROTO;
    throw errno_error(error, "creating sockets in the container's network namespace");
  }
  return fds;
}

bool IpPrefix::contains(const rules::IpAddress& address) const noexcept {
  unsigned full_bytes = length / 8;
  if (std::memcmp(network.bytes.data(), address.bytes.data(), full_bytes) != 0) {
    return false;
  }
  unsigned rest = length % 8;
  if (rest == 0) {
    return true;
  }
  auto mask = static_cast<std::uint8_t>(0xFF00U >> rest);
  return (network.bytes[full_bytes] & mask) == (address.bytes[full_bytes] & mask);
}

std::vector<IpPrefix> dump_interface_prefixes(int route_socket) {
  std::array<char, 8192> buffer{};
  nlmsghdr* header = mnl_nlmsg_put_header(buffer.data());
  header->nlmsg_type = RTM_GETADDR;
  header->nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  static std::uint32_t sequence = 1;
  header->nlmsg_seq = __atomic_add_fetch(&sequence, 1, __ATOMIC_RELAXED);
  auto* message = static_cast<ifaddrmsg*>(mnl_nlmsg_put_extra_header(header, sizeof(ifaddrmsg)));
  message->ifa_family = AF_UNSPEC;
  if (::send(route_socket, header, header->nlmsg_len, 0) < 0) {
    throw_errno("sending RTM_GETADDR");
  }
  std::vector<IpPrefix> prefixes;
  for (;;) {
    ssize_t length = ::recv(route_socket, buffer.data(), buffer.size(), 0);
    if (length < 0 && errno == EINTR) {
      continue;
    }
    if (length < 0) {
      throw_errno("reading RTM_GETADDR");
    }
    int result = mnl_cb_run(buffer.data(), static_cast<std::size_t>(length), header->nlmsg_seq, 0,
                            collect_prefix, &prefixes);
    if (result == MNL_CB_STOP) {
      return prefixes;
    }
    if (result == MNL_CB_ERROR) {
      check_ack(reinterpret_cast<const nlmsghdr*>(buffer.data()));
      throw_errno("parsing RTM_GETADDR");
    }
  }
}

void subscribe_address_changes(int route_socket) {
  sockaddr_nl address{};
  address.nl_family = AF_NETLINK;
  address.nl_groups = RTMGRP_IPV4_IFADDR | RTMGRP_IPV6_IFADDR;
  if (::bind(route_socket, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    throw_errno("subscribing to address changes");
  }
}

bool drain_route_notifications(int route_socket) {
  std::array<char, 8192> buffer{};
  bool any = false;
  while (::recv(route_socket, buffer.data(), buffer.size(), MSG_DONTWAIT) > 0) {
    any = true;
  }
  return any;
}

}  // namespace sockgate
