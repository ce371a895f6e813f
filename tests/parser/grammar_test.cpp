// The grammar: every construct parses into the expected tree, with positions.
#include "parser/grammar.hpp"

#include <gtest/gtest.h>

#include <tao/pegtl/contrib/analyze.hpp>

#include "parse_helpers.hpp"

namespace sockgate::parser {
namespace {

using testing::messages;
using testing::parse;
using Kind = ast::AddressItem::Kind;

TEST(Grammar, AnalyzerFindsNoProblem) {
  EXPECT_EQ(tao::pegtl::analyze<grammar::file>(0), 0U);
}

constexpr const char* kShop = R"(# shop.rules: policy for the "shop" project
scope if label project=shop

set metadata = { 169.254.169.254, fd00:ec2::254 }
set lan      = { 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, fc00::/7 }

rule no-metadata: deny   connect tcp,udp to @metadata
rule dns:         pass   connect udp to 10.0.2.3 port 53
rule lan:         pass   connect to @lan
rule web-out:     bypass connect tcp to any port 80,443,8000-8999 if label app=web
rule web-in:      bypass bind tcp port 80 publish 127.0.0.1:8080
rule refused:     deny   connect tcp port 25 errno ECONNREFUSED
default pass
)";

TEST(Grammar, ShopExampleParsesClean) {
  const auto parsed = parse(kShop);
  EXPECT_EQ(messages(parsed), std::vector<std::string>{});
  ASSERT_EQ(parsed.unit().statements.size(), 10U);

  const auto& scope = parsed.statement<ast::Scope>(0);
  EXPECT_EQ(scope.location, (Location{0, 2, 1}));
  ASSERT_EQ(scope.conditions.size(), 1U);
  EXPECT_EQ(scope.conditions[0].key, "project");
  EXPECT_EQ(scope.conditions[0].value, "shop");
  EXPECT_EQ(scope.conditions[0].kind, ast::LabelCondition::Kind::equals);
  EXPECT_EQ(scope.conditions[0].location, (Location{0, 2, 10}));

  const auto& lan = parsed.statement<ast::Set>(2);
  EXPECT_EQ(lan.name, "lan");
  EXPECT_EQ(lan.name_location, (Location{0, 5, 5}));
  ASSERT_EQ(lan.items.size(), 4U);
  EXPECT_EQ(lan.items[1].literal.text, "172.16.0.0/12");
  EXPECT_EQ(lan.items[1].literal.prefix, 12U);
  EXPECT_TRUE(lan.items[1].literal.is_v4);
  EXPECT_EQ(lan.items[1].location, (Location{0, 5, 30}));
  EXPECT_FALSE(lan.items[3].literal.is_v4);
  EXPECT_EQ(lan.items[3].literal.prefix, 7U);
}

TEST(Grammar, RuleClausesFillTheTree) {
  const auto parsed = parse(kShop);
  const auto& web = parsed.statement<ast::Rule>(6);
  EXPECT_EQ(web.name, "web-out");
  EXPECT_EQ(web.location, (Location{0, 10, 1}));
  EXPECT_EQ(web.action, ast::Action::bypass);
  EXPECT_EQ(web.operations, std::vector<ast::Operation>{ast::Operation::connect});
  EXPECT_EQ(web.protocols, std::vector<ast::Protocol>{ast::Protocol::tcp});
  ASSERT_TRUE(web.addresses);
  EXPECT_EQ(web.addresses->applies_to, ast::Operation::connect);
  ASSERT_EQ(web.addresses->items.size(), 1U);
  EXPECT_EQ(web.addresses->items[0].kind, Kind::any);
  ASSERT_TRUE(web.ports);
  ASSERT_EQ(web.ports->size(), 3U);
  EXPECT_EQ((*web.ports)[2].low, 8000U);
  EXPECT_EQ((*web.ports)[2].high, 8999U);
  EXPECT_EQ((*web.ports)[2].location, (Location{0, 10, 57}));
  ASSERT_EQ(web.conditions.size(), 1U);
  EXPECT_EQ(web.conditions[0].key, "app");
  EXPECT_EQ(web.text,
            "rule web-out:     bypass connect tcp to any port 80,443,8000-8999 if label app=web");

  const auto& web_in = parsed.statement<ast::Rule>(7);
  ASSERT_TRUE(web_in.publish);
  EXPECT_EQ(web_in.publish->port, 8080U);
  ASSERT_TRUE(web_in.publish->address);
  EXPECT_EQ(web_in.publish->address->text, "127.0.0.1");
  EXPECT_EQ(web_in.publish->location, (Location{0, 11, 43}));

  const auto& refused = parsed.statement<ast::Rule>(8);
  ASSERT_TRUE(refused.error);
  EXPECT_EQ(refused.error->name, "ECONNREFUSED");
  EXPECT_EQ(refused.error->location, (Location{0, 12, 46}));

  const auto& no_metadata = parsed.statement<ast::Rule>(3);
  EXPECT_EQ(no_metadata.protocols,
            (std::vector<ast::Protocol>{ast::Protocol::tcp, ast::Protocol::udp}));
  EXPECT_EQ(no_metadata.addresses->items[0].kind, Kind::set_reference);
  EXPECT_EQ(no_metadata.addresses->items[0].set_name, "metadata");

  const auto& fallback = parsed.statement<ast::Default>(9);
  EXPECT_EQ(fallback.action, ast::Action::pass);
  EXPECT_EQ(fallback.location, (Location{0, 13, 1}));
}

TEST(Grammar, UnnamedRuleWithoutOperationOrProtocol) {
  const auto parsed = parse("deny\n  bypass   port 22\n");
  EXPECT_EQ(messages(parsed), std::vector<std::string>{});
  const auto& deny = parsed.statement<ast::Rule>(0);
  EXPECT_FALSE(deny.name);
  EXPECT_EQ(deny.action, ast::Action::deny);
  EXPECT_TRUE(deny.operations.empty());
  EXPECT_TRUE(deny.protocols.empty());
  EXPECT_EQ(deny.text, "deny");
  const auto& bypass = parsed.statement<ast::Rule>(1);
  EXPECT_EQ(bypass.location, (Location{0, 2, 3}));
  EXPECT_EQ(bypass.text, "bypass   port 22");
}

TEST(Grammar, BothOperationsAndProtocolsWritten) {
  const auto parsed = parse("pass connect,bind udp, tcp\n");
  EXPECT_EQ(messages(parsed), std::vector<std::string>{});
  const auto& rule = parsed.statement<ast::Rule>(0);
  EXPECT_EQ(rule.operations,
            (std::vector<ast::Operation>{ast::Operation::connect, ast::Operation::bind}));
  EXPECT_EQ(rule.protocols, (std::vector<ast::Protocol>{ast::Protocol::udp, ast::Protocol::tcp}));
  EXPECT_EQ(rule.operations_location, (Location{0, 1, 6}));
}

TEST(Grammar, AddressListWithNegationAndIpv6) {
  const auto parsed = parse(
      "set s = { 192.0.2.1 }\ndeny connect to 2001:db8::/32, ! @s, !198.51.100.0/24, "
      "::ffff:192.0.2.9\n");
  EXPECT_EQ(messages(parsed), std::vector<std::string>{});
  const auto& rule = parsed.statement<ast::Rule>(1);
  const auto& items = rule.addresses->items;
  ASSERT_EQ(items.size(), 4U);
  EXPECT_FALSE(items[0].negated);
  EXPECT_EQ(items[0].literal.prefix, 32U);
  EXPECT_FALSE(items[0].literal.is_v4);
  EXPECT_TRUE(items[1].negated);
  EXPECT_EQ(items[1].kind, Kind::set_reference);
  EXPECT_EQ(items[1].location, (Location{0, 2, 32}));
  EXPECT_TRUE(items[2].negated);
  EXPECT_EQ(items[2].literal.text, "198.51.100.0/24");
  EXPECT_EQ(items[2].literal.prefix_location, (Location{0, 2, 52}));
  ASSERT_TRUE(items[3].literal.bytes);
  EXPECT_EQ((*items[3].literal.bytes)[15], 9);
  EXPECT_EQ((*items[3].literal.bytes)[10], 0xff);
}

TEST(Grammar, BindAddressesWithOn) {
  const auto parsed = parse("bypass bind tcp on 127.0.0.1, ::1 port 8080\n");
  EXPECT_EQ(messages(parsed), std::vector<std::string>{});
  const auto& rule = parsed.statement<ast::Rule>(0);
  EXPECT_EQ(rule.addresses->applies_to, ast::Operation::bind);
  EXPECT_EQ(rule.addresses->items.size(), 2U);
}

TEST(Grammar, LabelConditionForms) {
  const auto parsed = parse(
      "pass if label a=1 and label b!=two and label c and label d=\"x y # z\" and "
      "label io.podman/e = f:g\n");
  EXPECT_EQ(messages(parsed), std::vector<std::string>{});
  const auto& conditions = parsed.statement<ast::Rule>(0).conditions;
  ASSERT_EQ(conditions.size(), 5U);
  using CondKind = ast::LabelCondition::Kind;
  EXPECT_EQ(conditions[0].kind, CondKind::equals);
  EXPECT_EQ(conditions[1].kind, CondKind::not_equals);
  EXPECT_EQ(conditions[1].value, "two");
  EXPECT_EQ(conditions[2].kind, CondKind::present);
  EXPECT_EQ(conditions[2].key, "c");
  EXPECT_EQ(conditions[3].value, "x y # z");
  EXPECT_EQ(conditions[4].key, "io.podman/e");
  EXPECT_EQ(conditions[4].value, "f:g");
  EXPECT_EQ(parsed.statement<ast::Rule>(0).text,
            "pass if label a=1 and label b!=two and label c and label d=\"x y # z\" and label "
            "io.podman/e = f:g");
}

TEST(Grammar, EmptyQuotedLabelValue) {
  const auto parsed = parse("pass if label a=\"\"\n");
  EXPECT_EQ(messages(parsed), std::vector<std::string>{});
  EXPECT_EQ(parsed.statement<ast::Rule>(0).conditions[0].value, "");
  EXPECT_EQ(parsed.statement<ast::Rule>(0).conditions[0].kind, ast::LabelCondition::Kind::equals);
}

TEST(Grammar, PublishForms) {
  const auto parsed = parse(
      "bypass bind port 80 publish 8080\n"
      "rule b: bypass bind port 81 publish [2001:db8::1]:8081\n"
      "rule c: bypass bind port 82 publish 0.0.0.0:8082\n");
  EXPECT_EQ(messages(parsed), std::vector<std::string>{});
  const auto& plain = *parsed.statement<ast::Rule>(0).publish;
  EXPECT_FALSE(plain.address);
  EXPECT_EQ(plain.port, 8080U);
  EXPECT_EQ(plain.port_location, (Location{0, 1, 29}));
  const auto& v6 = *parsed.statement<ast::Rule>(1).publish;
  ASSERT_TRUE(v6.address);
  EXPECT_EQ(v6.address->text, "2001:db8::1");
  EXPECT_EQ(v6.address->location, (Location{0, 2, 38}));
  EXPECT_EQ(v6.port, 8081U);
  const auto& v4 = *parsed.statement<ast::Rule>(2).publish;
  EXPECT_EQ(v4.address->text, "0.0.0.0");
  EXPECT_EQ(v4.port, 8082U);
}

TEST(Grammar, ClausesInAnyOrder) {
  const auto parsed = parse("deny connect tcp errno EPERM port 25 to 192.0.2.0/24\n");
  EXPECT_EQ(messages(parsed), std::vector<std::string>{});
  const auto& rule = parsed.statement<ast::Rule>(0);
  EXPECT_EQ(rule.error->name, "EPERM");
  EXPECT_EQ(rule.ports->at(0).low, 25U);
  EXPECT_EQ(rule.addresses->items.size(), 1U);
}

TEST(Grammar, MultiLineSetWithCommentsAndTrailingComma) {
  const auto parsed = parse(
      "set lan = {   # private networks\n"
      "  10.0.0.0/8,\n"
      "  # a comment line inside\n"
      "  fc00::/7,  @other,\n"
      "}\n"
      "set other = { 192.0.2.1 }\n");
  EXPECT_EQ(messages(parsed), std::vector<std::string>{});
  const auto& set = parsed.statement<ast::Set>(0);
  ASSERT_EQ(set.items.size(), 3U);
  EXPECT_EQ(set.items[1].location, (Location{0, 4, 3}));
  EXPECT_EQ(set.items[2].kind, Kind::set_reference);
}

TEST(Grammar, CrlfLineEndingsAndTabs) {
  const auto parsed = parse("rule a:\tdeny\tconnect\r\n\r\n# c\r\ndefault deny errno EPERM\r\n");
  EXPECT_EQ(messages(parsed), std::vector<std::string>{});
  EXPECT_EQ(parsed.statement<ast::Rule>(0).text, "rule a:\tdeny\tconnect");
  const auto& fallback = parsed.statement<ast::Default>(1);
  EXPECT_EQ(fallback.location, (Location{0, 4, 1}));
  EXPECT_EQ(fallback.error->name, "EPERM");
}

TEST(Grammar, LastLineWithoutNewlineAndTrailingComment) {
  const auto parsed = parse("include \"x.rules\"   # shared\npass  # last");
  ASSERT_EQ(parsed.unit().statements.size(), 2U);
  EXPECT_EQ(parsed.statement<ast::Include>(0).path, "x.rules");
  EXPECT_EQ(parsed.statement<ast::Include>(0).path_location, (Location{0, 1, 9}));
  EXPECT_EQ(parsed.statement<ast::Rule>(1).text, "pass");
}

TEST(Grammar, KeywordPrefixIsNotAKeyword) {
  // "passes" is not "pass", and "rule-1" is not "rule".
  const auto parsed = parse("passes\nrule-1: deny\n", false);
  EXPECT_EQ(messages(parsed),
            (std::vector<std::string>{
                "1:1: error: expected a statement: 'rule', 'set', 'default', 'scope', 'include' "
                "or an action ('bypass', 'pass', 'deny'), found 'passes'",
                "2:1: error: expected a statement: 'rule', 'set', 'default', 'scope', 'include' "
                "or an action ('bypass', 'pass', 'deny'), found 'rule-1:'"}));
}

TEST(Grammar, EmptyAndCommentOnlyFiles) {
  EXPECT_TRUE(parse("").unit().statements.empty());
  EXPECT_TRUE(parse("\n\n   \n# only a comment").unit().statements.empty());
  EXPECT_EQ(messages(parse("  \t ")), std::vector<std::string>{});
}

}  // namespace
}  // namespace sockgate::parser
