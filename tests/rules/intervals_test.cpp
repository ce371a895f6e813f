// Interval sets over ports and addresses.
#include "rules/intervals.hpp"

#include <gtest/gtest.h>

namespace sockgate::rules {
namespace {

using Ports = std::vector<Interval<std::uint32_t>>;

TEST(IntervalSet, NormalizesOverlapsAndTouching) {
  const PortSet set(Ports{{10, 20}, {5, 9}, {15, 30}, {40, 40}, {41, 41}, {50, 49}});
  EXPECT_EQ(set.intervals(), (Ports{{5, 30}, {40, 41}}));
}

TEST(IntervalSet, Minus) {
  const PortSet all = PortSet::all(kMaxPort);
  EXPECT_EQ(all.minus(PortSet(Ports{{0, 0}, {80, 90}, {65535, 65535}})).intervals(),
            (Ports{{1, 79}, {91, 65534}}));
  EXPECT_EQ(PortSet(Ports{{10, 20}}).minus(PortSet(Ports{{0, 100}})).intervals(), Ports{});
  EXPECT_EQ(PortSet(Ports{{10, 20}, {30, 40}}).minus(PortSet(Ports{{15, 35}})).intervals(),
            (Ports{{10, 14}, {36, 40}}));
  EXPECT_EQ(PortSet(Ports{{10, 20}}).minus(PortSet()).intervals(), (Ports{{10, 20}}));
}

TEST(IntervalSet, Contains) {
  const PortSet set(Ports{{10, 20}, {30, 40}});
  EXPECT_TRUE(set.contains(10U));
  EXPECT_TRUE(set.contains(40U));
  EXPECT_FALSE(set.contains(25U));
  EXPECT_FALSE(set.contains(0U));
  EXPECT_TRUE(set.contains(PortSet(Ports{{12, 15}, {30, 30}})));
  EXPECT_FALSE(set.contains(PortSet(Ports{{12, 25}})));
  EXPECT_TRUE(set.contains(PortSet()));
  EXPECT_FALSE(PortSet().contains(set));
}

TEST(NetworkInterval, PrefixBoundaries) {
  const auto v4 = network_interval(*IpAddress::parse("10.1.2.3"), 96 + 8);
  ASSERT_EQ(v4.intervals().size(), 1U);
  EXPECT_EQ(to_address(v4.intervals()[0].low).to_string(), "10.0.0.0");
  EXPECT_EQ(to_address(v4.intervals()[0].high).to_string(), "10.255.255.255");
  const auto all = network_interval(*IpAddress::parse("::"), 0);
  EXPECT_EQ(all.intervals()[0].high, kMaxAddress);
  const auto host = network_interval(*IpAddress::parse("2001:db8::1"), 128);
  EXPECT_EQ(host.intervals()[0].low, host.intervals()[0].high);
  EXPECT_EQ(to_number(*IpAddress::parse("::1")), Uint128{1});
}

}  // namespace
}  // namespace sockgate::rules
