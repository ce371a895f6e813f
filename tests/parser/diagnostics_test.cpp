// Syntax errors: exact messages and positions, recovery, and the printed form.
#include <gtest/gtest.h>

#include "parse_helpers.hpp"

namespace sockgate::parser {
namespace {

using testing::messages;
using testing::parse;
using Messages = std::vector<std::string>;

struct SyntaxCase {
  const char* text;
  const char* expected;
};

class SyntaxError : public ::testing::TestWithParam<SyntaxCase> {};

TEST_P(SyntaxError, ReportsMessageAndPosition) {
  const auto parsed = parse(GetParam().text, false);
  EXPECT_EQ(messages(parsed), Messages{GetParam().expected});
}

INSTANTIATE_TEST_SUITE_P(
    Grammar, SyntaxError,
    ::testing::Values(
        SyntaxCase{"rule a deny", "1:8: error: expected ':' after the rule name, found 'deny'"},
        SyntaxCase{"rule : deny", "1:6: error: expected a rule name after 'rule', found ':'"},
        SyntaxCase{"rule a: allow",
                   "1:9: error: expected an action: 'bypass', 'pass' or 'deny', found 'allow'"},
        SyntaxCase{"rule a:",
                   "1:8: error: expected an action: 'bypass', 'pass' or 'deny', "
                   "found the end of the file"},
        SyntaxCase{"deny tcp connect",
                   "1:10: error: expected 'to', 'on', 'port', 'if', 'publish', 'errno' or the "
                   "end of the rule, found 'connect'"},
        SyntaxCase{"deny connect,",
                   "1:14: error: expected 'connect' or 'bind' after ',', found "
                   "the end of the file"},
        SyntaxCase{"deny tcp,icmp",
                   "1:10: error: expected 'tcp' or 'udp' after ',', found "
                   "'icmp'"},
        SyntaxCase{"deny connect to\n",
                   "1:16: error: expected an address, a network, '@NAME' "
                   "or 'any', found the end of the line"},
        SyntaxCase{"deny connect to port 80",
                   "1:17: error: expected an address, a network, '@NAME' or 'any', found "
                   "'port'"},
        SyntaxCase{"deny connect to 10.0.0.1,",
                   "1:26: error: expected an address, a network, "
                   "'@NAME' or 'any', found the end of the file"},
        SyntaxCase{"deny connect to !",
                   "1:18: error: expected an address, a network, '@NAME' "
                   "or 'any' after '!', found the end of the file"},
        SyntaxCase{"deny connect to 10.0.0.0/",
                   "1:26: error: expected a prefix length after "
                   "'/', found the end of the file"},
        SyntaxCase{"deny connect to @",
                   "1:18: error: expected a set name after '@', found the "
                   "end of the file"},
        SyntaxCase{"deny port http",
                   "1:11: error: expected a port number or a range LOW-HIGH, "
                   "found 'http'"},
        SyntaxCase{"deny port 80-",
                   "1:14: error: expected the upper port of the range after "
                   "'-', found the end of the file"},
        SyntaxCase{"deny if app=web",
                   "1:9: error: expected 'label KEY', 'label KEY=VALUE' or "
                   "'label KEY!=VALUE', found 'app=web'"},
        SyntaxCase{"deny if label",
                   "1:14: error: expected a label key after 'label', found the "
                   "end of the file"},
        SyntaxCase{"deny if label a=",
                   "1:17: error: expected a label value; quote a value that "
                   "is empty or contains spaces, found the end of the file"},
        SyntaxCase{"deny if label a=\"b",
                   "1:19: error: expected '\"' to close the text, found "
                   "the end of the file"},
        SyntaxCase{"deny if label a and",
                   "1:20: error: expected 'label KEY', 'label "
                   "KEY=VALUE' or 'label KEY!=VALUE', found the end of "
                   "the file"},
        SyntaxCase{"bypass bind port 80 publish",
                   "1:28: error: expected PORT, IPV4:PORT or "
                   "[IPV6]:PORT after 'publish', found the end "
                   "of the file"},
        SyntaxCase{"bypass bind port 80 publish 127.0.0.1",
                   "1:38: error: expected ':' and the host port after the publish address, "
                   "found the end of the file"},
        SyntaxCase{"bypass bind port 80 publish [::1]8080",
                   "1:34: error: expected ':' and the host port after the publish address, "
                   "found '8080'"},
        SyntaxCase{"bypass bind port 80 publish [::1:8080",
                   "1:38: error: expected ']' after the IPv6 address, found the end of the file"},
        SyntaxCase{"bypass bind port 80 publish [zz]:80",
                   "1:30: error: expected an IPv6 address after '[', found 'zz]:80'"},
        SyntaxCase{"bypass bind port 80 publish 10.0.0.1:",
                   "1:38: error: expected the host port number, found the end of the file"},
        SyntaxCase{"deny errno",
                   "1:11: error: expected an errno name such as ECONNREFUSED after "
                   "'errno', found the end of the file"},
        SyntaxCase{"set = { }", "1:5: error: expected a set name after 'set', found '='"},
        SyntaxCase{"set a { }", "1:7: error: expected '=' after the set name, found '{'"},
        SyntaxCase{"set a = 10.0.0.1",
                   "1:9: error: expected '{' to open the set, found "
                   "'10.0.0.1'"},
        SyntaxCase{"set a = { 10.0.0.1 10.0.0.2 }",
                   "1:20: error: expected ',' or '}' in the "
                   "set, found '10.0.0.2'"},
        SyntaxCase{"set a = { 10.0.0.1, , }",
                   "1:21: error: expected an address, a network or "
                   "'@NAME' in the set, found ','"},
        SyntaxCase{"set a = { 10.0.0.1 } x",
                   "1:22: error: expected the end of the line after "
                   "'}', found 'x'"},
        SyntaxCase{"default",
                   "1:8: error: expected an action: 'bypass', 'pass' or 'deny', found "
                   "the end of the file"},
        SyntaxCase{"default pass now",
                   "1:14: error: expected 'errno' or the end of the line "
                   "after the default action, found 'now'"},
        SyntaxCase{"scope label a=b", "1:7: error: expected 'if' after 'scope', found 'label'"},
        SyntaxCase{"scope if label a=b or label c",
                   "1:20: error: expected 'and' or the end of "
                   "the line after the scope condition, found "
                   "'or'"},
        SyntaxCase{"include x.rules",
                   "1:9: error: expected a quoted path after 'include', "
                   "found 'x.rules'"},
        SyntaxCase{"include \"x.rules",
                   "1:17: error: expected '\"' to close the text, found "
                   "the end of the file"},
        SyntaxCase{"include \"a\" \"b\"",
                   "1:13: error: expected the end of the line after the "
                   "include path, found '\"b\"'"},
        SyntaxCase{"@lan",
                   "1:1: error: expected a statement: 'rule', 'set', 'default', "
                   "'scope', 'include' or an action ('bypass', 'pass', 'deny'), found "
                   "'@lan'"}));

TEST(Recovery, ReportsEveryErrorOfTheFile) {
  const auto parsed = parse(
      "rule a deny connect\n"
      "rule b: frob\n"
      "rule c: pass connect to 192.0.2.1\n"
      "deny port\n"
      "include nothing\n",
      false);
  EXPECT_EQ(messages(parsed),
            (Messages{"1:8: error: expected ':' after the rule name, found 'deny'",
                      "2:9: error: expected an action: 'bypass', 'pass' or 'deny', found 'frob'",
                      "4:10: error: expected a port number or a range LOW-HIGH, found the end "
                      "of the line",
                      "5:9: error: expected a quoted path after 'include', found 'nothing'"}));
  // Only the valid statement made it into the tree.
  ASSERT_EQ(parsed.unit().statements.size(), 1U);
  EXPECT_EQ(parsed.statement<ast::Rule>(0).name, "c");
}

TEST(Recovery, ErrorInSetSkipsWholeSet) {
  const auto parsed = parse(
      "set lan = {\n"
      "  10.0.0.0/8\n"
      "  172.16.0.0/12,  # the missing comma above is the error\n"
      "  192.168.0.0/16,\n"
      "}\n"
      "rule after: deny connect to 10.0.0.1 oops\n",
      false);
  EXPECT_EQ(messages(parsed),
            (Messages{"3:3: error: expected ',' or '}' in the set, found '172.16.0.0/12'",
                      "6:38: error: expected 'to', 'on', 'port', 'if', 'publish', 'errno' or the "
                      "end of the rule, found 'oops'"}));
}

TEST(Recovery, MissingClosingBraceRunsToEndOfFile) {
  const auto parsed = parse("set lan = { 10.0.0.0/8,\nrule a: deny\n", false);
  EXPECT_EQ(messages(parsed),
            (Messages{"2:1: error: expected an address, a network or '@NAME' in the set, found "
                      "'rule'"}));
}

TEST(Format, PrintsLineAndCaret) {
  const auto parsed = parse("# header\nrule web:  bypass connect tcp to 10.0.0.1 prot 80\n");
  EXPECT_EQ(format_diagnostics(parsed.diagnostics, parsed.program.sources),
            "test.rules:2:43: error: expected 'to', 'on', 'port', 'if', 'publish', 'errno' or "
            "the end of the rule, found 'prot'\n"
            "rule web:  bypass connect tcp to 10.0.0.1 prot 80\n"
            "                                          ^\n");
}

TEST(Format, CaretKeepsTabs) {
  const auto parsed = parse("\tdeny\tport\tx\n");
  EXPECT_EQ(format_diagnostics(parsed.diagnostics, parsed.program.sources),
            "test.rules:1:12: error: expected a port number or a range LOW-HIGH, found 'x'\n"
            "\tdeny\tport\tx\n"
            "\t    \t    \t^\n");
}

TEST(Format, WarningWithoutSourceLine) {
  Sources sources;
  const auto file = sources.add(SourceFile{"gone.rules", "", std::nullopt});
  Diagnostics diagnostics;
  diagnostics.warning(Location{file, 0, 0}, "something odd");
  EXPECT_EQ(format_diagnostics(diagnostics, sources), "gone.rules: warning: something odd\n");
  EXPECT_EQ(diagnostics.warning_count(), 1U);
  EXPECT_FALSE(diagnostics.has_errors());
}

}  // namespace
}  // namespace sockgate::parser
