// Kernel tests of the switching core through `sockgate run`: the probe runs inside, as an
// unprivileged user, against the test host, and reports what its sockets look like.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include <gtest/gtest.h>

#include "test_support.hpp"

namespace sockgate::test {
namespace {

class RunKernelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (test_host().empty()) {
      GTEST_SKIP() << "no test host: run tests/run.sh, which sets one up "
                      "(or point SOCKGATE_TEST_ENV at its settings)";
    }
    if (geteuid() == 0) {
      GTEST_SKIP() << "the kernel tests run as an unprivileged user; tests/run.sh does that";
    }
  }

  std::string host4() { return host_setting("SOCKGATE_TEST_HOST_IPV4"); }
  std::string host6() { return host_setting("SOCKGATE_TEST_HOST_IPV6"); }
  std::string echo_port() { return host_setting("SOCKGATE_TEST_ECHO_PORT"); }
};

// Connects to 127.0.0.1 or ::1 at `port` from the host and checks an echo round trip.
bool host_echo(int family, int port) {
  int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_storage storage{};
  socklen_t length = 0;
  if (family == AF_INET) {
    auto* in = reinterpret_cast<sockaddr_in*>(&storage);
    in->sin_family = AF_INET;
    in->sin_port = htons(static_cast<std::uint16_t>(port));
    in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    length = sizeof *in;
  } else {
    auto* in6 = reinterpret_cast<sockaddr_in6*>(&storage);
    in6->sin6_family = AF_INET6;
    in6->sin6_port = htons(static_cast<std::uint16_t>(port));
    in6->sin6_addr = in6addr_loopback;
    length = sizeof *in6;
  }
  bool ok = connect(fd, reinterpret_cast<sockaddr*>(&storage), length) == 0;
  const char message[] = "ping\n";
  char reply[sizeof message] = {};
  ok = ok && send(fd, message, sizeof message - 1, 0) == sizeof message - 1 &&
       recv(fd, reply, sizeof reply - 1, MSG_WAITALL) == sizeof message - 1 &&
       std::string(reply) == message;
  close(fd);
  return ok;
}

TEST_F(RunKernelTest, NonblockCloexecSocketKeepsFlagsIPv4) {
  auto report = run_probe({}, {"flags", host4(), echo_port()});
  EXPECT_EQ(report["connect_errno"], "EINPROGRESS");
  EXPECT_EQ(report["completion_errno"], "0");
  EXPECT_EQ(report["bypassed"], true);
  EXPECT_EQ(report["nonblock"], true);
  EXPECT_EQ(report["cloexec"], true);
  EXPECT_EQ(report["echo"], true);
  EXPECT_EQ(report["inherited_across_exec"], false);
}

TEST_F(RunKernelTest, NonblockCloexecSocketKeepsFlagsIPv6) {
  auto report = run_probe({}, {"flags", host6(), echo_port()});
  EXPECT_EQ(report["connect_errno"], "EINPROGRESS");
  EXPECT_EQ(report["completion_errno"], "0");
  EXPECT_EQ(report["bypassed"], true);
  EXPECT_EQ(report["nonblock"], true);
  EXPECT_EQ(report["cloexec"], true);
  EXPECT_EQ(report["echo"], true);
  EXPECT_EQ(report["inherited_across_exec"], false);
}

TEST_F(RunKernelTest, FcntlNonblockConnectInProgressThenWritable) {
  auto report = run_probe({}, {"fcntl-nonblock", host4(), echo_port()});
  EXPECT_EQ(report["connect_errno"], "EINPROGRESS");
  EXPECT_EQ(report["completion_errno"], "0");
  EXPECT_EQ(report["nonblock"], true);
  EXPECT_EQ(report["cloexec"], false);
  EXPECT_EQ(report["bypassed"], true);
}

// Every option reads back after the switch as it does after the same connect on the host,
// where the kernel itself adjusts a few (TCP_WINDOW_CLAMP follows the receive buffer).
void expect_options_kept(const nlohmann::json& report, const nlohmann::json& on_host) {
  EXPECT_EQ(report["connect_errno"], "0");
  EXPECT_EQ(report["bypassed"], true);
  ASSERT_TRUE(report["before"].is_object());
  ASSERT_FALSE(report["before"].empty());
  for (const auto& [name, value] : report["before"].items()) {
    EXPECT_EQ(report["after"][name], on_host["after"][name]) << name << " differs from the host";
    if (on_host["before"][name] == on_host["after"][name]) {
      EXPECT_EQ(report["after"][name], value) << name << " changed across the switch";
    }
  }
  EXPECT_EQ(report["linger"], nlohmann::json::array({1, 7}));
  EXPECT_EQ(report["rcvtimeo_ms"], 3500);
  EXPECT_EQ(report["sndtimeo_ms"], 3500);
  EXPECT_EQ(report["congestion"], "reno");
}

TEST_F(RunKernelTest, SocketOptionsReadBackAfterSwitchIPv4) {
  std::vector<std::string> probe = {"options", host4(), echo_port()};
  expect_options_kept(run_probe({}, probe), run_probe_on_host(probe));
}

TEST_F(RunKernelTest, SocketOptionsReadBackAfterSwitchIPv6) {
  std::vector<std::string> probe = {"options", host6(), echo_port()};
  expect_options_kept(run_probe({}, probe), run_probe_on_host(probe));
}

TEST_F(RunKernelTest, BoundLocalPortIsKept) {
  int port = free_port();
  auto report = run_probe({}, {"bind-then-connect", host4(), echo_port(), std::to_string(port)});
  EXPECT_EQ(report["bind_errno"], "0");
  EXPECT_EQ(report["errno"], "0");
  EXPECT_EQ(report["bypassed"], true);
  EXPECT_EQ(report["echo"], true);
  EXPECT_EQ(report["local_port"], port);
}

TEST_F(RunKernelTest, ConnectsFromThreadAndForkedChild) {
  auto report = run_probe({}, {"thread-and-fork", host4(), echo_port()});
  EXPECT_EQ(report["thread"]["errno"], "0");
  EXPECT_EQ(report["thread"]["bypassed"], true);
  EXPECT_EQ(report["thread"]["echo"], true);
  EXPECT_EQ(report["fork"]["errno"], "0");
  EXPECT_EQ(report["fork"]["bypassed"], true);
  EXPECT_EQ(report["fork"]["echo"], true);
}

TEST_F(RunKernelTest, RefusedAndUnreachableGiveHostErrno) {
  std::string refused = host_setting("SOCKGATE_TEST_REFUSED_PORT");
  const std::vector<std::vector<std::string>> cases = {
      {"errno", host4(), refused},
      {"errno", host6(), refused},
      {"errno", host_setting("SOCKGATE_TEST_UNREACHABLE_IPV4"), "80"},
      {"errno", host_setting("SOCKGATE_TEST_UNREACHABLE_IPV6"), "80"},
  };
  for (const auto& probe : cases) {
    auto on_host = run_probe_on_host(probe);
    auto through_sockgate = run_probe({}, probe);
    EXPECT_NE(on_host["errno"], "0") << probe[1];
    EXPECT_EQ(through_sockgate["errno"], on_host["errno"]) << probe[1] << " port " << probe[2];
  }
}

TEST_F(RunKernelTest, BlackHoleDoesNotDelaySecondConnect) {
  auto report = run_probe({}, {"blackhole", host_setting("SOCKGATE_TEST_BLACKHOLE_IPV4"), "80",
                               host4(), echo_port()});
  EXPECT_EQ(report["errno"], "0");
  EXPECT_EQ(report["echo"], true);
  // A stalled loop would hold the second connect for the black hole's SYN retries (minutes).
  EXPECT_LT(report["second_connect_ms"].get<int>(), 2000);
}

TEST_F(RunKernelTest, PublishedDualStackListenerReachedOverIPv4AndIPv6) {
  int host_port = free_port();
  BackgroundProcess run({sockgate_binary(), "run", "--metrics", "none", "--control", "none",
                         "--publish", std::to_string(host_port) + ":8080", "--", probe_binary(),
                         "serve", "8080", "2"});
  auto line = run.read_line();
  ASSERT_TRUE(line.has_value()) << "the probe did not start listening";
  auto listening = nlohmann::json::parse(*line);
  EXPECT_EQ(listening["listening"], true);
  EXPECT_EQ(listening["bypassed"], true);
  EXPECT_TRUE(host_echo(AF_INET, host_port));
  EXPECT_TRUE(host_echo(AF_INET6, host_port));
  EXPECT_EQ(run.wait(), 0);
}

TEST_F(RunKernelTest, HealthCheckToLoopbackReachesPublishedPort) {
  int host_port = free_port();
  auto report = run_probe({"--publish", std::to_string(host_port) + ":8081"},
                          {"health-check", "127.0.0.1", "8081"});
  EXPECT_EQ(report["errno"], "0");
  EXPECT_EQ(report["bypassed"], true);
  EXPECT_EQ(report["echo"], true);
}

TEST_F(RunKernelTest, LoopbackListenerInsideStaysInside) {
  // Nothing published: the listener and the connect both stay in the container's namespace.
  auto report = run_probe({}, {"health-check", "127.0.0.1", "8082"});
  EXPECT_EQ(report["errno"], "0");
  EXPECT_EQ(report["bypassed"], false);
  EXPECT_EQ(report["echo"], true);
}

}  // namespace
}  // namespace sockgate::test
