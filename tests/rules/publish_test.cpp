// `--publish` flags and the built-in policy text.
#include "rules/publish.hpp"

#include <gtest/gtest.h>

namespace sockgate::rules {
namespace {

PublishSpec parse_ok(const char* text) {
  auto parsed = parse_publish_spec(text);
  EXPECT_TRUE(std::holds_alternative<PublishSpec>(parsed)) << std::get<std::string>(parsed);
  return std::holds_alternative<PublishSpec>(parsed) ? std::get<PublishSpec>(parsed)
                                                     : PublishSpec{};
}

std::string parse_error(const char* text) {
  auto parsed = parse_publish_spec(text);
  EXPECT_TRUE(std::holds_alternative<std::string>(parsed)) << text;
  return std::holds_alternative<std::string>(parsed) ? std::get<std::string>(parsed) : "";
}

TEST(PublishSpec, ParsesPorts) {
  EXPECT_EQ(parse_ok("8080:80"), (PublishSpec{std::nullopt, 8080, 80, Protocol::tcp}));
  EXPECT_EQ(parse_ok("5353:53/udp"), (PublishSpec{std::nullopt, 5353, 53, Protocol::udp}));
  EXPECT_EQ(parse_ok("1:65535/tcp"), (PublishSpec{std::nullopt, 1, 65535, Protocol::tcp}));
}

TEST(PublishSpec, ParsesHostAddresses) {
  EXPECT_EQ(parse_ok("127.0.0.1:8080:80"),
            (PublishSpec{IpAddress::parse("127.0.0.1"), 8080, 80, Protocol::tcp}));
  EXPECT_EQ(parse_ok("[::1]:8080:80/udp"),
            (PublishSpec{IpAddress::parse("::1"), 8080, 80, Protocol::udp}));
  EXPECT_EQ(parse_ok("[2001:db8::7]:443:8443"),
            (PublishSpec{IpAddress::parse("2001:db8::7"), 443, 8443, Protocol::tcp}));
}

TEST(PublishSpec, RejectsBadInput) {
  EXPECT_EQ(parse_error("80"),
            "invalid --publish '80': expected [HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/tcp|/udp], "
            "such as 8080:80 or 127.0.0.1:8080:80/tcp");
  EXPECT_EQ(parse_error("8080:80/sctp"),
            "invalid --publish '8080:80/sctp': unknown protocol 'sctp'; use tcp or udp");
  EXPECT_EQ(parse_error("0:80"),
            "invalid --publish '0:80': ports must be numbers from 1 to 65535; expected "
            "[HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/tcp|/udp], such as 8080:80 or "
            "127.0.0.1:8080:80/tcp");
  EXPECT_EQ(parse_error("8080:70000").substr(0, 60),
            "invalid --publish '8080:70000': ports must be numbers from 1");
  EXPECT_EQ(parse_error("8080:http").substr(0, 59),
            "invalid --publish '8080:http': ports must be numbers from 1");
  EXPECT_EQ(parse_error("localhost:8080:80"),
            "invalid --publish 'localhost:8080:80': 'localhost' is not an IPv4 address; write an "
            "IPv6 address in brackets");
  EXPECT_EQ(parse_error("::1:8080:80"),
            "invalid --publish '::1:8080:80': '' is not an IPv4 address; write an IPv6 address "
            "in brackets");
  EXPECT_EQ(parse_error("[::1:8080:80"),
            "invalid --publish '[::1:8080:80': expected ']:' after the IPv6 address");
  EXPECT_EQ(parse_error("[127.0.0.1]:8080:80"),
            "invalid --publish '[127.0.0.1]:8080:80': '127.0.0.1' is not an IPv6 address");
  EXPECT_EQ(parse_error("1.2.3.4:5:6:7").substr(0, 54),
            "invalid --publish '1.2.3.4:5:6:7': ports must be numbe");
  EXPECT_EQ(parse_error("").substr(0, 30), "invalid --publish '': expected");
}

TEST(PublishRules, TextAndUniqueNames) {
  const std::vector<PublishSpec> specs = {
      {std::nullopt, 8080, 80, Protocol::tcp},
      {IpAddress::parse("127.0.0.1"), 8080, 80, Protocol::tcp},
      {IpAddress::parse("::1"), 5353, 53, Protocol::udp},
  };
  EXPECT_EQ(publish_rules_text(specs),
            "rule publish-8080-80-tcp: bypass bind tcp port 80 publish 8080\n"
            "rule publish-8080-80-tcp-2: bypass bind tcp port 80 publish 127.0.0.1:8080\n"
            "rule publish-5353-53-udp: bypass bind udp port 53 publish [::1]:5353\n");
}

TEST(BuiltinPolicy, Text) {
  const std::vector<PublishSpec> specs = {{std::nullopt, 8080, 80, Protocol::tcp}};
  EXPECT_EQ(builtin_policy_text(specs),
            "# The built-in policy, used when no rule file is given. Every TCP connect goes "
            "through\n"
            "# the host's network (except to addresses local to the container, which always "
            "stay\n"
            "# inside); everything else passes through the container's own network.\n"
            "rule publish-8080-80-tcp: bypass bind tcp port 80 publish 8080\n"
            "rule tcp-connect: bypass connect tcp\n"
            "default pass\n");
  EXPECT_EQ(builtin_policy_text({}).find("publish"), std::string::npos);
}

}  // namespace
}  // namespace sockgate::rules
