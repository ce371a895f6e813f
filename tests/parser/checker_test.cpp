// The meaning check: each error and warning with its exact message and position.
#include <gtest/gtest.h>

#include "parse_helpers.hpp"

namespace sockgate::parser {
namespace {

using testing::messages;
using testing::parse;
using Messages = std::vector<std::string>;

TEST(Checker, UnknownSet) {
  EXPECT_EQ(messages(parse("deny connect to @lan\n")),
            Messages{"1:17: error: unknown set 'lan'; define it with 'set lan = { ... }'"});
}

TEST(Checker, SetUsedBeforeItsDefinitionIsFine) {
  EXPECT_EQ(messages(parse("deny connect to @lan\nset lan = { 10.0.0.0/8 }\n")), Messages{});
}

TEST(Checker, DuplicateSet) {
  EXPECT_EQ(messages(parse("set a = { 10.0.0.1 }\nset a = { 10.0.0.2 }\n")),
            Messages{"2:5: error: duplicate set 'a'; the first is at test.rules:1"});
}

TEST(Checker, EmptySet) {
  EXPECT_EQ(messages(parse("set none = { }\n")),
            Messages{"1:1: error: set 'none' is empty; a rule that uses it matches no address "
                     "through it"});
}

TEST(Checker, SetCycle) {
  EXPECT_EQ(messages(parse("set a = { @b }\nset b = { 10.0.0.1, @a }\n")),
            Messages{"1:5: error: set 'a' refers to itself (a -> b -> a)"});
  EXPECT_EQ(messages(parse("set self = { @self }\n")),
            Messages{"1:5: error: set 'self' refers to itself (self -> self)"});
}

TEST(Checker, SetNestingDepthIsBounded) {
  // 200,000 nested sets used to overflow the stack; now the nesting stops at 32.
  std::string text;
  constexpr int kSets = 200000;
  for (int i = 0; i + 1 < kSets; ++i) {
    text += "set s" + std::to_string(i) + " = { @s" + std::to_string(i + 1) + " }\n";
  }
  text += "set s" + std::to_string(kSets - 1) + " = { 10.0.0.1 }\n";
  const auto result = messages(parse(text));
  ASSERT_EQ(result.size(), 1U);
  EXPECT_EQ(result[0],
            "1:5: error: set 's0' nests sets more than 32 deep (through 's32'); flatten the "
            "nesting");

  // A chain of 32 sets is within the bound.
  std::string shallow;
  for (int i = 0; i < 31; ++i) {
    shallow += "set t" + std::to_string(i) + " = { @t" + std::to_string(i + 1) + " }\n";
  }
  shallow += "set t31 = { 10.0.0.1 }\n";
  EXPECT_EQ(messages(parse(shallow)), Messages{});
}

TEST(Checker, DuplicateRuleName) {
  EXPECT_EQ(messages(parse("rule a: pass\nrule a: deny\n")),
            Messages{"2:1: error: duplicate rule name 'a'; the first is at test.rules:1 (rule "
                     "names are also metrics labels, so they must be unique; name the rule with "
                     "'rule NAME:')"});
}

TEST(Checker, NegatedAny) {
  EXPECT_EQ(messages(parse("deny connect to 10.0.0.1, !any\n")),
            Messages{"1:27: error: '!any' matches no address; remove it"});
}

TEST(Checker, InvalidAddresses) {
  EXPECT_EQ(messages(parse("deny connect to 10.0.0.300, 2001:db8:::1, deadbeef\n")),
            (Messages{"1:17: error: invalid address '10.0.0.300'; expected IPv4 such as "
                      "192.0.2.1 or IPv6 such as 2001:db8::1",
                      "1:29: error: invalid address '2001:db8:::1'; expected IPv4 such as "
                      "192.0.2.1 or IPv6 such as 2001:db8::1",
                      "1:43: error: invalid address 'deadbeef'; expected IPv4 such as 192.0.2.1 "
                      "or IPv6 such as 2001:db8::1"}));
}

TEST(Checker, PrefixTooLong) {
  EXPECT_EQ(messages(parse("set s = { 10.0.0.0/33, 2001:db8::/129 }\n")),
            (Messages{"1:20: error: prefix length /33 is longer than the 32 bits of an IPv4 "
                      "address",
                      "1:35: error: prefix length /129 is longer than the 128 bits of an IPv6 "
                      "address"}));
}

TEST(Checker, HostBitsSetIsAWarning) {
  EXPECT_EQ(messages(parse("deny connect to 10.1.2.3/8, 2001:db8::1/32\n")),
            (Messages{"1:17: warning: '10.1.2.3/8' has host bits set; it means the network "
                      "10.0.0.0/8, so write that",
                      "1:29: warning: '2001:db8::1/32' has host bits set; it means the network "
                      "2001:db8::/32, so write that"}));
}

TEST(Checker, PortValues) {
  EXPECT_EQ(messages(parse("deny port 0, 70000, 99999999999, 90-80, 1-65535\n")),
            (Messages{"1:11: error: port 0 is not a valid port; ports are 1-65535",
                      "1:14: error: port 70000 is out of range; ports are 1-65535",
                      "1:21: error: port number is out of range; ports are 1-65535",
                      "1:34: error: port range 90-80 is empty: the first port is above the "
                      "last"}));
}

TEST(Checker, UnknownErrnoListsAcceptedNames) {
  EXPECT_EQ(messages(parse("deny errno ENOPE\n")),
            Messages{"1:12: error: unknown errno name 'ENOPE'; accepted names: EACCES, "
                     "EADDRINUSE, EADDRNOTAVAIL, EAFNOSUPPORT, EAGAIN, ECONNABORTED, "
                     "ECONNREFUSED, ECONNRESET, EHOSTDOWN, EHOSTUNREACH, EINVAL, ENETDOWN, "
                     "ENETUNREACH, ENOBUFS, EPERM, EPROTONOSUPPORT, ETIMEDOUT"});
}

TEST(Checker, ErrnoOnlyOnDeny) {
  EXPECT_EQ(messages(parse("pass connect errno EPERM\ndefault bypass errno EPERM\n")),
            (Messages{"1:14: error: 'errno' applies to deny; this action is 'pass'",
                      "2:16: error: 'errno' applies to deny; this action is 'bypass'"}));
}

TEST(Checker, PublishNeedsBypassBindAndOnePort) {
  EXPECT_EQ(messages(parse("rule a: deny bind port 80 publish 8080\n"
                           "rule b: bypass connect port 80 publish 8080\n"
                           "rule c: bypass bind port 80,81 publish 8080\n"
                           "rule d: bypass bind publish 8080\n"
                           "rule e: bypass bind port 80 publish 0\n"
                           "rule f: bypass port 80 publish 8080\n")),
            (Messages{"1:27: error: 'publish' needs the bypass action; this rule is 'deny'",
                      "2:32: error: 'publish' applies to bind, but this rule also applies to "
                      "connect; write 'bind'",
                      "3:32: error: 'publish' needs exactly one container port; write 'port N' "
                      "in the rule",
                      "4:21: error: 'publish' needs exactly one container port; write 'port N' "
                      "in the rule",
                      "5:37: error: port 0 is not a valid port; ports are 1-65535"}));
}

TEST(Checker, AddressClauseMustFitTheOperation) {
  EXPECT_EQ(messages(parse("deny bind to 10.0.0.1\n"
                           "deny connect on 10.0.0.1\n"
                           "deny connect,bind to 10.0.0.1\n"
                           "deny to 10.0.0.1\n"
                           "deny on 0.0.0.0\n")),
            (Messages{"1:11: error: 'to' lists destinations of connect, but this rule also "
                      "applies to bind; remove 'bind' or use 'on' in a separate bind rule",
                      "2:14: error: 'on' lists local addresses of bind, but this rule also "
                      "applies to connect; remove 'connect' or use 'to' in a separate connect "
                      "rule",
                      "3:19: error: 'to' lists destinations of connect, but this rule also "
                      "applies to bind; remove 'bind' or use 'on' in a separate bind rule"}));
}

TEST(Checker, DuplicateClauses) {
  EXPECT_EQ(messages(parse("deny port 1 port 2 to 10.0.0.1 to 10.0.0.2 errno EPERM errno EPERM "
                           "if label a if label b\n")),
            (Messages{"1:13: error: duplicate 'port' clause; write one clause with all the values",
                      "1:32: error: duplicate 'to' clause; write one clause with all the values",
                      "1:62: error: duplicate 'errno' clause; write one clause with all the "
                      "values",
                      "1:79: error: duplicate 'if' clause; write one clause with all the "
                      "values"}));
}

TEST(Checker, DuplicateDefault) {
  EXPECT_EQ(messages(parse("default pass\ndefault deny\n")),
            Messages{"2:1: error: duplicate default; the first is at test.rules:1"});
}

TEST(Checker, ScopeMustComeFirstAndOnce) {
  EXPECT_EQ(messages(parse("set s = { 10.0.0.1 }\nscope if label a\nscope if label b\n")),
            Messages{"3:1: error: duplicate scope; the first is at test.rules:2; join the "
                     "conditions with 'and'"});
  EXPECT_EQ(messages(parse("pass\nscope if label a\n")),
            Messages{"2:1: error: 'scope' must come before the first rule, include or default "
                     "of the file"});
}

TEST(Checker, UnnamedRuleNamedFileLine) {
  auto parsed = parse("\n\npass port 1\nrule named: pass port 2\n");
  const PolicyOutline outline = outline_program(parsed.program);
  ASSERT_EQ(outline.entries.size(), 2U);
  EXPECT_EQ(entry_name(parsed.program, outline.entries[0]), "test.rules:3");
  EXPECT_EQ(entry_name(parsed.program, outline.entries[1]), "named");
}

TEST(Checker, EffectiveOperations) {
  auto parsed = parse(
      "pass to 10.0.0.1\npass on 10.0.0.1\nbypass port 80 publish 1\npass\n"
      "pass connect,bind\n",
      false);
  const auto operations = [&](std::size_t index) {
    const auto set = effective_operations(parsed.statement<ast::Rule>(index));
    return std::make_pair(set.connect, set.bind);
  };
  EXPECT_EQ(operations(0), std::make_pair(true, false));
  EXPECT_EQ(operations(1), std::make_pair(false, true));
  EXPECT_EQ(operations(2), std::make_pair(false, true));
  EXPECT_EQ(operations(3), std::make_pair(true, true));
  EXPECT_EQ(operations(4), std::make_pair(true, true));
}

}  // namespace
}  // namespace sockgate::parser
