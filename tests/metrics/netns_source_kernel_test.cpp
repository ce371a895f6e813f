// A sock_diag source made of sockets that were created in another network namespace and handed
// over as descriptors, as the core does for a container's own network. The test makes that
// namespace itself (a new user and network namespace, unprivileged) in a forked child.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/netlink.h>
#include <net/if.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstring>
#include <optional>

#include "loopback_tcp.hpp"
#include "metrics/metrics.hpp"

namespace sockgate::metrics {
namespace {

using rules::Action;
using testing::cookie_of;
using testing::receive_bytes;
using testing::send_bytes;
using testing::wait_until;

// Descriptors made inside the child's namespace: two NETLINK_SOCK_DIAG sockets and a
// connected loopback TCP pair.
struct NamespaceFds {
  int query = -1;
  int destroy = -1;
  int client = -1;
  int server = -1;
};

bool bring_loopback_up() {
  const int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  ifreq request{};
  std::strcpy(request.ifr_name, "lo");
  const bool up = fd >= 0 && ioctl(fd, SIOCGIFFLAGS, &request) == 0 &&
                  (request.ifr_flags |= IFF_UP, ioctl(fd, SIOCSIFFLAGS, &request) == 0);
  close(fd);
  return up;
}

// Runs in the forked child: creates the namespace and the sockets and sends them to the parent,
// or sends the errno of the step that failed.
[[noreturn]] void child_make_namespace(int channel) {
  int error = 0;
  std::array<int, 4> fds{-1, -1, -1, -1};
  if (unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0 || !bring_loopback_up()) {
    error = errno;
  } else {
    fds[0] = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    fds[1] = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
    const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    auto* generic = reinterpret_cast<sockaddr*>(&address);
    fds[2] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (bind(listener, generic, length) != 0 || listen(listener, 1) != 0 ||
        getsockname(listener, generic, &length) != 0 || connect(fds[2], generic, length) != 0 ||
        (fds[3] = accept(listener, nullptr, nullptr)) < 0 || fds[0] < 0 || fds[1] < 0) {
      error = errno;
    }
  }

  iovec payload{&error, sizeof error};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
  msghdr message{};
  message.msg_iov = &payload;
  message.msg_iovlen = 1;
  if (error == 0) {
    message.msg_control = control;
    message.msg_controllen = sizeof control;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof fds);
    std::memcpy(CMSG_DATA(header), fds.data(), sizeof fds);
  }
  _exit(sendmsg(channel, &message, 0) < 0 ? 1 : 0);
}

// Returns the descriptors, or std::nullopt with `error` set to the child's errno.
std::optional<NamespaceFds> make_namespace(int& error) {
  int channel[2];
  EXPECT_EQ(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, channel), 0);
  const pid_t child = fork();
  if (child == 0) {
    child_make_namespace(channel[1]);
  }
  close(channel[1]);

  std::array<int, 4> fds{};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof fds)] = {};
  iovec payload{&error, sizeof error};
  msghdr message{};
  message.msg_iov = &payload;
  message.msg_iovlen = 1;
  message.msg_control = control;
  message.msg_controllen = sizeof control;
  const ssize_t received = recvmsg(channel[0], &message, MSG_CMSG_CLOEXEC);
  close(channel[0]);
  int status = 0;
  waitpid(child, &status, 0);

  const cmsghdr* header = received > 0 ? CMSG_FIRSTHDR(&message) : nullptr;
  if (received <= 0 || error != 0 || header == nullptr || header->cmsg_type != SCM_RIGHTS) {
    error = error != 0 ? error : EPROTO;
    return std::nullopt;
  }
  std::memcpy(fds.data(), CMSG_DATA(header), sizeof fds);
  return NamespaceFds{fds[0], fds[1], fds[2], fds[3]};
}

TEST(NetnsSourceKernel, CountsSocketsOfAnotherNamespace) {
  int error = 0;
  const auto fds = make_namespace(error);
  if (!fds) {
    GTEST_SKIP() << "cannot create an unprivileged user and network namespace: "
                 << std::strerror(error);
  }
  Metrics metrics;
  const std::vector<RuleLabels> rules = {{"lan", Action::pass, true, false}};
  const auto series = metrics.bind_rules(rules, Action::pass);
  const auto host = metrics.open_host_source();
  const auto container = metrics.adopt_source(fds->query, fds->destroy);

  metrics.track_socket(*container, cookie_of(fds->client), *series, 0);
  send_bytes(fds->client, 123'456);
  receive_bytes(fds->server, 123'456);
  ASSERT_TRUE(wait_until([&] { return metrics.snapshot().rules[0].bytes_sent == 123'456; }))
      << "a dump of the other namespace found no counts";

  send_bytes(fds->client, 44);
  receive_bytes(fds->server, 44);
  close(fds->client);
  ASSERT_TRUE(wait_until([&] { return metrics.snapshot().tracked_sockets == 0; }))
      << "no destroy message from the other namespace";
  close(fds->server);

  const RuleSnapshot lan = metrics.snapshot().rules[0];
  EXPECT_EQ(lan.bytes_sent, 123'500U);
  EXPECT_EQ(lan.open_sockets, 0);
}

TEST(NetnsSourceKernel, HostSourceDoesNotSeeOtherNamespace) {
  int error = 0;
  const auto fds = make_namespace(error);
  if (!fds) {
    GTEST_SKIP() << "cannot create an unprivileged user and network namespace: "
                 << std::strerror(error);
  }
  close(fds->query);
  close(fds->destroy);
  Metrics metrics;
  const std::vector<RuleLabels> rules = {{"lan", Action::pass, true, false}};
  const auto series = metrics.bind_rules(rules, Action::pass);
  const auto host = metrics.open_host_source();

  // Tracked on the wrong source: no dump finds it and no destroy message reaches it.
  metrics.track_socket(*host, cookie_of(fds->client), *series, 0);
  send_bytes(fds->client, 1000);
  receive_bytes(fds->server, 1000);
  close(fds->client);
  close(fds->server);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  const Snapshot snapshot = metrics.snapshot();
  EXPECT_EQ(snapshot.rules[0].bytes_sent, 0U);
  EXPECT_EQ(snapshot.tracked_sockets, 1U);
}

}  // namespace
}  // namespace sockgate::metrics
