// Unit tests of the core's pure parts: call decoding, addresses, prefixes, socket options.
#include <linux/audit.h>
#include <linux/net.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <thread>

#include <gtest/gtest.h>

#include "core/kernel.hpp"
#include "core/netns.hpp"
#include "core/seccomp_filter.hpp"
#include "core/socket_options.hpp"
#include "core/sockaddr.hpp"
#include "core/worker_pool.hpp"

namespace sockgate {
namespace {

rules::IpAddress ip(const char* text) { return *rules::IpAddress::parse(text); }

TEST(DecodeSocketCall, NativeConnectAndBind) {
  seccomp_data data{};
  data.arch = AUDIT_ARCH_X86_64;
  data.nr = SYS_connect;
  data.args[0] = 7;
  data.args[1] = 0x7fff0000;
  data.args[2] = 16;
  auto call = decode_socket_call(data);
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->operation, rules::Operation::connect);
  EXPECT_EQ(call->fd, 7);
  EXPECT_EQ(call->address, 0x7fff0000U);
  EXPECT_EQ(call->address_length, 16U);
  EXPECT_FALSE(call->socketcall_args.has_value());

  data.nr = SYS_bind;
  call = decode_socket_call(data);
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->operation, rules::Operation::bind);
}

TEST(DecodeSocketCall, X32UsesTheNativeNumbers) {
  seccomp_data data{};
  data.arch = AUDIT_ARCH_X86_64;
  data.nr = SYS_connect | 0x40000000;
  auto call = decode_socket_call(data);
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->operation, rules::Operation::connect);
}

TEST(DecodeSocketCall, I386SocketcallPointsAtArguments) {
  seccomp_data data{};
  data.arch = AUDIT_ARCH_I386;
  data.nr = 102;
  data.args[0] = SYS_BIND;
  data.args[1] = 0xffffd000;
  auto call = decode_socket_call(data);
  ASSERT_TRUE(call.has_value());
  EXPECT_EQ(call->operation, rules::Operation::bind);
  ASSERT_TRUE(call->socketcall_args.has_value());
  EXPECT_EQ(*call->socketcall_args, 0xffffd000U);
}

TEST(DecodeSocketCall, OtherCallsAreNotSocketCalls) {
  seccomp_data data{};
  data.arch = AUDIT_ARCH_X86_64;
  data.nr = SYS_sendto;
  EXPECT_FALSE(decode_socket_call(data).has_value());
  data.arch = AUDIT_ARCH_I386;
  data.nr = 102;
  data.args[0] = SYS_SENDTO;
  EXPECT_FALSE(decode_socket_call(data).has_value());
}

TEST(SocketAddress, MapsIPv4IntoIPv6Sockets) {
  auto address = SocketAddress::from(AF_INET6, ip("198.18.0.2"), 80);
  EXPECT_EQ(address.family(), AF_INET6);
  EXPECT_EQ(address.length, sizeof(sockaddr_in6));
  EXPECT_EQ(address.port(), 80);
  EXPECT_EQ(*address.ip(), ip("198.18.0.2"));
  EXPECT_EQ(address.to_string(), "[::ffff:198.18.0.2]:80");
}

TEST(SocketAddress, ShortAddressHasNoIp) {
  auto address = SocketAddress::from(AF_INET, ip("198.18.0.2"), 80);
  address.length = 8;
  EXPECT_FALSE(address.ip().has_value());
  EXPECT_EQ(SocketAddress::any(AF_INET6, 443).to_string(), "[::]:443");
}

TEST(IpPrefix, ContainsByPrefixLength) {
  IpPrefix slirp{ip("10.0.2.0"), 96 + 24};
  EXPECT_TRUE(slirp.contains(ip("10.0.2.3")));
  EXPECT_FALSE(slirp.contains(ip("10.0.3.1")));
  IpPrefix odd{ip("2001:db8::"), 33};
  EXPECT_TRUE(odd.contains(ip("2001:db8:7fff::1")));
  EXPECT_FALSE(odd.contains(ip("2001:db8:8000::1")));
}

TEST(SocketOptions, CarriesOnlyWhatDiffersFromDefaults) {
  int fresh = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int changed = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int target = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int keepidle = 77;
  setsockopt(changed, IPPROTO_TCP, TCP_KEEPIDLE, &keepidle, sizeof keepidle);
  int buffer = 50000;
  setsockopt(changed, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);

  auto defaults = read_socket_options(fresh, SocketKind::tcp4);
  auto values = read_socket_options(changed, SocketKind::tcp4);
  auto refused = carry_socket_options(target, SocketKind::tcp4, values, defaults);
  EXPECT_TRUE(refused.empty());
  auto carried = read_socket_options(target, SocketKind::tcp4);
  EXPECT_EQ(carried, values);

  int value = 0;
  socklen_t length = sizeof value;
  getsockopt(target, SOL_SOCKET, SO_RCVBUF, &value, &length);
  EXPECT_EQ(value, 100000) << "SO_RCVBUF reads back doubled; the carried value must match";
  close(fresh);
  close(changed);
  close(target);
}

TEST(ParseFdinfo, ReadsCloexecAndInode) {
  auto described = parse_fdinfo("pos:\t0\nflags:\t02000002\nmnt_id:\t10\nino:\t7722338\n");
  ASSERT_TRUE(described.has_value());
  EXPECT_TRUE(described->cloexec);
  EXPECT_EQ(described->inode, 7722338U);

  described = parse_fdinfo("pos:\t0\nflags:\t04002\nmnt_id:\t10\nino:\t42\n");
  ASSERT_TRUE(described.has_value());
  EXPECT_FALSE(described->cloexec);
  EXPECT_EQ(described->inode, 42U);
}

TEST(ParseFdinfo, MissingFieldsGiveNothing) {
  EXPECT_FALSE(parse_fdinfo("pos:\t0\nflags:\t02\n").has_value());
  EXPECT_FALSE(parse_fdinfo("").has_value());
}

TEST(WorkerPool, RunsTasksConcurrently) {
  WorkerPool pool(4, 1);
  std::atomic<int> running{0};
  std::atomic<int> peak{0};
  std::atomic<int> done{0};
  for (int i = 0; i < 4; ++i) {
    pool.submit([&] {
      int now = ++running;
      peak = std::max(peak.load(), now);
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      --running;
      ++done;
    });
  }
  pool.shutdown();
  EXPECT_EQ(done, 4);
  EXPECT_GE(peak, 2) << "a blocked task must not hold the others back";
}

}  // namespace
}  // namespace sockgate
