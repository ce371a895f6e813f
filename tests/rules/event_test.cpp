// IpAddress and LabelSet.
#include <gtest/gtest.h>
#include <netinet/in.h>

#include "rules/policy.hpp"

namespace sockgate::rules {
namespace {

TEST(IpAddress, ParsesAndFormatsIpv4) {
  const auto address = IpAddress::parse("192.0.2.10");
  ASSERT_TRUE(address);
  EXPECT_TRUE(address->is_v4());
  EXPECT_EQ(address->to_string(), "192.0.2.10");
  EXPECT_EQ(address->bytes[10], 0xff);
  EXPECT_EQ(address->bytes[11], 0xff);
  EXPECT_EQ(address->bytes[15], 10);
  EXPECT_EQ(ntohl(address->to_v4().s_addr), 0xc000020aU);
}

TEST(IpAddress, MappedTextEqualsIpv4) {
  EXPECT_EQ(IpAddress::parse("::ffff:192.0.2.10"), IpAddress::parse("192.0.2.10"));
}

TEST(IpAddress, FormatsIpv6PerRfc5952) {
  const std::vector<std::pair<const char*, const char*>> cases = {
      {"2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"},
      {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},
      {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},
      {"::", "::"},
      {"::1", "::1"},
      {"fe80::", "fe80::"},
      {"1:0:0:2:0:0:0:3", "1:0:0:2::3"},
      {"::102:304", "::102:304"},
  };
  for (const auto& [input, expected] : cases) {
    const auto address = IpAddress::parse(input);
    ASSERT_TRUE(address) << input;
    EXPECT_FALSE(address->is_v4()) << input;
    EXPECT_EQ(address->to_string(), expected) << input;
  }
}

TEST(IpAddress, RejectsInvalidText) {
  for (const char* text : {"", "1.2.3", "1.2.3.256", "01.2.3.4x", "2001:db8:::1", "[::1]",
                           "fe80::1%eth0", "localhost", "1.2.3.4/8"}) {
    EXPECT_FALSE(IpAddress::parse(text)) << text;
  }
  EXPECT_FALSE(IpAddress::parse(std::string(100, '1')));
}

TEST(IpAddress, ConvertsFromSocketStructs) {
  in_addr v4{};
  v4.s_addr = htonl(0x7f000001);
  EXPECT_EQ(IpAddress::from_v4(v4).to_string(), "127.0.0.1");
  in6_addr v6 = in6addr_loopback;
  const IpAddress loopback = IpAddress::from_v6(v6);
  EXPECT_EQ(loopback.to_string(), "::1");
  const in6_addr back = loopback.to_v6();
  EXPECT_EQ(back.s6_addr[15], 1);
}

TEST(EnumNames, Strings) {
  EXPECT_EQ(to_string(Operation::connect), "connect");
  EXPECT_EQ(to_string(Operation::bind), "bind");
  EXPECT_EQ(to_string(Protocol::tcp), "tcp");
  EXPECT_EQ(to_string(Protocol::udp), "udp");
  EXPECT_EQ(to_string(Action::pass), "pass");
  EXPECT_EQ(to_string(Action::bypass), "bypass");
  EXPECT_EQ(to_string(Action::deny), "deny");
}

TEST(LabelSet, SortsAndReplaces) {
  LabelSet labels({{"b", "1"}, {"a", "2"}, {"b", "3"}});
  ASSERT_EQ(labels.pairs().size(), 2U);
  EXPECT_EQ(labels.pairs()[0].first, "a");
  EXPECT_EQ(labels.pairs()[1].second, "3");
  labels.set("c", "4");
  labels.set("a", "5");
  ASSERT_NE(labels.find("a"), nullptr);
  EXPECT_EQ(*labels.find("a"), "5");
  EXPECT_EQ(*labels.find("c"), "4");
  EXPECT_EQ(labels.find("d"), nullptr);
  EXPECT_EQ(labels.find(""), nullptr);
}

}  // namespace
}  // namespace sockgate::rules
