// The rule index on many rules: the tables stay near linear in the rule count, and the first
// matching rule is still found.
#include "rules/rule_index.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace sockgate::rules {
namespace {

constexpr std::uint32_t kRules = 20000;
// 10.0.0.0, as the 128-bit number of its IPv4-mapped address.
constexpr Uint128 kBase = (Uint128{0xffff} << 32U) | 0x0a000000U;

RuleShape connect_tcp_shape(AddressSet addresses, PortSet ports) {
  RuleShape shape;
  shape.addresses = std::move(addresses);
  shape.ports = std::move(ports);
  shape.operation_protocol[operation_protocol_slot(Operation::connect, Protocol::tcp)] = true;
  return shape;
}

Event connect_event(Uint128 address, std::uint16_t port) {
  Event event;
  event.address = to_address(address);
  event.port = port;
  return event;
}

// Rule i matches only the address 10.0.0.0 + 2i and the port 1 + i.
std::vector<RuleShape> one_host_per_rule() {
  std::vector<RuleShape> shapes;
  for (std::uint32_t rule = 0; rule < kRules; ++rule) {
    const Uint128 address = kBase + 2 * Uint128{rule};
    shapes.push_back(
        connect_tcp_shape(AddressSet({{address, address}}), PortSet({{rule + 1, rule + 1}})));
  }
  return shapes;
}

// Rule i matches every address except 10.0.0.0 + 2i, on every port.
std::vector<RuleShape> all_but_one_host_per_rule() {
  std::vector<RuleShape> shapes;
  for (std::uint32_t rule = 0; rule < kRules; ++rule) {
    const Uint128 hole = kBase + 2 * Uint128{rule};
    shapes.push_back(connect_tcp_shape(
        AddressSet::all(kMaxAddress).minus(AddressSet({{hole, hole}})), PortSet::all(kMaxPort)));
  }
  return shapes;
}

TEST(RuleIndexSize, DisjointRulesShareTheEmptyBlock) {
  const std::vector<RuleShape> shapes = one_host_per_rule();
  const RuleIndex index(shapes);
  const auto& addresses = index.addresses();

  EXPECT_EQ(index.words(), 313U);
  EXPECT_EQ(addresses.blocks_per_row(), 20U);
  EXPECT_EQ(addresses.interval_count(), 2 * kRules + 1);
  // The empty row and one row per rule.
  EXPECT_EQ(addresses.row_count(), kRules + 1);
  // The empty block and one block per bit position: rules 0 and 1024 share one.
  EXPECT_EQ(addresses.block_count(), 1 + kBlockWords * 64);
  // Full bit set rows would take 20,001 * 313 * 8 bytes, about 48 MiB.
  EXPECT_LT(addresses.memory_bytes(), 5U * 1024 * 1024);
  EXPECT_LT(index.memory_bytes(), 8U * 1024 * 1024);
}

TEST(RuleIndexSize, OverlappingRulesShareFullBlocks) {
  const std::vector<RuleShape> shapes = all_but_one_host_per_rule();
  const RuleIndex index(shapes);
  const auto& addresses = index.addresses();

  EXPECT_EQ(addresses.interval_count(), 2 * kRules + 1);
  // The row of all rules and one row per rule without that rule.
  EXPECT_EQ(addresses.row_count(), kRules + 1);
  // The empty block, the full block, the full last block of 544 rules, and one block per bit
  // position cleared in each of these two.
  EXPECT_EQ(addresses.block_count(), 3 + kBlockWords * 64 + 544);
  EXPECT_LT(addresses.memory_bytes(), 5U * 1024 * 1024);
}

TEST(RuleIndexMatch, FindsTheOneHostRule) {
  const std::vector<RuleShape> shapes = one_host_per_rule();
  const RuleIndex index(shapes);
  const std::vector<std::uint64_t> mask(index.words(), ~std::uint64_t{0});

  for (const std::uint32_t rule : {0U, 1023U, 1024U, 12345U, kRules - 1}) {
    const Uint128 address = kBase + 2 * Uint128{rule};
    const auto port = static_cast<std::uint16_t>(rule + 1);
    EXPECT_EQ(index.first_match(connect_event(address, port), mask), rule) << "rule " << rule;
    EXPECT_EQ(index.first_match(connect_event(address + 1, port), mask), std::nullopt)
        << "rule " << rule;
    EXPECT_EQ(index.first_match(connect_event(address, port + 1), mask), std::nullopt)
        << "rule " << rule;
  }
}

TEST(RuleIndexMatch, SkipsHoleAndMaskedRules) {
  const std::vector<RuleShape> shapes = all_but_one_host_per_rule();
  const RuleIndex index(shapes);
  std::vector<std::uint64_t> mask(index.words(), ~std::uint64_t{0});

  EXPECT_EQ(index.first_match(connect_event(kBase + 1, 80), mask), 0U);
  EXPECT_EQ(index.first_match(connect_event(kBase, 80), mask), 1U);
  EXPECT_EQ(index.first_match(connect_event(kBase + 2, 80), mask), 0U);

  // The mask allows only rules from 5000 on.
  std::fill(mask.begin(), mask.begin() + 5000 / 64, 0);
  mask[5000 / 64] = ~std::uint64_t{0} << (5000 % 64);
  EXPECT_EQ(index.first_match(connect_event(kBase + 2 * 5000, 80), mask), 5001U);
  EXPECT_EQ(index.first_match(connect_event(kBase + 1, 80), mask), 5000U);

  // A mask shorter than the rule count reads as zero past its end.
  const std::vector<std::uint64_t> short_mask(2, ~std::uint64_t{0});
  EXPECT_EQ(index.first_match(connect_event(kBase + 2 * 127, 80), short_mask), 0U);
  const std::vector<std::uint64_t> empty_mask;
  EXPECT_EQ(index.first_match(connect_event(kBase + 1, 80), empty_mask), std::nullopt);
}

TEST(RuleIndexMatch, NoRules) {
  const RuleIndex index(std::vector<RuleShape>{});
  const std::vector<std::uint64_t> mask;
  EXPECT_EQ(index.addresses().row_count(), 0U);
  EXPECT_EQ(index.first_match(connect_event(kBase, 80), mask), std::nullopt);
}

}  // namespace
}  // namespace sockgate::rules
