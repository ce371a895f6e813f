// `check --explain`: event text and the description of a decision.
#include "rules/explain.hpp"

#include <gtest/gtest.h>

#include "rules/load.hpp"

namespace sockgate::rules {
namespace {

ExplainRequest parse_ok(const char* text) {
  auto parsed = parse_explain_request(text);
  EXPECT_TRUE(std::holds_alternative<ExplainRequest>(parsed)) << std::get<std::string>(parsed);
  return std::holds_alternative<ExplainRequest>(parsed) ? std::get<ExplainRequest>(parsed)
                                                        : ExplainRequest{};
}

TEST(ExplainRequest, ParsesEventAndLabels) {
  const auto request = parse_ok("connect tcp 203.0.113.7:443 label app=web label tier=front");
  EXPECT_EQ(request.event.operation, Operation::connect);
  EXPECT_EQ(request.event.protocol, Protocol::tcp);
  EXPECT_EQ(request.event.address.to_string(), "203.0.113.7");
  EXPECT_EQ(request.event.port, 443);
  ASSERT_NE(request.labels.find("app"), nullptr);
  EXPECT_EQ(*request.labels.find("app"), "web");
  EXPECT_EQ(*request.labels.find("tier"), "front");
}

TEST(ExplainRequest, Ipv6DefaultProtocolAndBareLabel) {
  const auto request = parse_ok("  bind [2001:db8::1]:53   label debug ");
  EXPECT_EQ(request.event.operation, Operation::bind);
  EXPECT_EQ(request.event.protocol, Protocol::tcp);
  EXPECT_EQ(request.event.address.to_string(), "2001:db8::1");
  EXPECT_EQ(request.event.port, 53);
  ASSERT_NE(request.labels.find("debug"), nullptr);
  EXPECT_EQ(*request.labels.find("debug"), "");
}

TEST(ExplainRequest, RejectsBadText) {
  const std::string suffix =
      "; expected OPERATION [PROTOCOL] ADDRESS:PORT [label KEY=VALUE]..., such as 'connect tcp "
      "203.0.113.7:443 label app=web'";
  const std::vector<std::pair<const char*, std::string>> cases = {
      {"send tcp 1.2.3.4:5",
       "invalid event 'send tcp 1.2.3.4:5': it must start with 'connect' or "
       "'bind'"},
      {"connect tcp 1.2.3.4",
       "invalid event 'connect tcp 1.2.3.4': expected ADDRESS:PORT (IPv6 "
       "as [ADDRESS]:PORT, port 0-65535)"},
      {"connect 2001:db8::1:80",
       "invalid event 'connect 2001:db8::1:80': expected ADDRESS:PORT "
       "(IPv6 as [ADDRESS]:PORT, port 0-65535)"},
      {"connect 1.2.3.4:65536",
       "invalid event 'connect 1.2.3.4:65536': expected ADDRESS:PORT "
       "(IPv6 as [ADDRESS]:PORT, port 0-65535)"},
      {"connect 1.2.3.4:80 app=web",
       "invalid event 'connect 1.2.3.4:80 app=web': unexpected "
       "'app=web'"},
      {"connect 1.2.3.4:80 label",
       "invalid event 'connect 1.2.3.4:80 label': unexpected "
       "'label'"},
      {"connect 1.2.3.4:80 label =x",
       "invalid event 'connect 1.2.3.4:80 label =x': a label "
       "needs a key"},
  };
  for (const auto& [text, expected] : cases) {
    const auto parsed = parse_explain_request(text);
    ASSERT_TRUE(std::holds_alternative<std::string>(parsed)) << text;
    EXPECT_EQ(std::get<std::string>(parsed), expected + suffix);
  }
}

TEST(ExplainDecision, RuleAndDefault) {
  const LoadResult loaded =
      load_policy_text("x.rules",
                       "rule refused:  deny connect tcp port 25 errno ECONNREFUSED  # no mail\n"
                       "rule web-in: bypass bind tcp port 80 publish [::1]:8080\n"
                       "default deny\n");
  ASSERT_TRUE(loaded.ok());
  const auto subject = loaded.policy->subject({});
  const auto explain = [&](const char* text) {
    const auto request = std::get<ExplainRequest>(parse_explain_request(text));
    return explain_decision(*loaded.policy, loaded.policy->decide(request.event, subject),
                            loaded.default_origin);
  };
  EXPECT_EQ(explain("connect tcp 192.0.2.1:25"),
            "decision: deny (errno ECONNREFUSED)\n"
            "rule: refused at x.rules:1\n"
            "  rule refused:  deny connect tcp port 25 errno ECONNREFUSED\n");
  EXPECT_EQ(explain("bind tcp 0.0.0.0:80"),
            "decision: bypass, published on host port [::1]:8080\n"
            "rule: web-in at x.rules:2\n"
            "  rule web-in: bypass bind tcp port 80 publish [::1]:8080\n");
  EXPECT_EQ(explain("connect udp [2001:db8::1]:53"),
            "decision: deny (errno EACCES)\n"
            "rule: none matched; the default is deny (x.rules:3)\n");
}

TEST(ExplainDecision, EscapesControlCharactersOfRuleText) {
  const LoadResult loaded =
      load_policy_text("x\x1b[2J.rules", "deny connect if label app=\"\x1b]0;t\x07\"\n");
  ASSERT_TRUE(loaded.ok()) << loaded.format_diagnostics();
  const auto request =
      std::get<ExplainRequest>(parse_explain_request("connect tcp 192.0.2.1:80 label app=x"));
  LabelSet labels;
  labels.set("app", "\x1b]0;t\x07");
  const auto decision = loaded.policy->decide(request.event, loaded.policy->subject(labels));
  EXPECT_EQ(explain_decision(*loaded.policy, decision, loaded.default_origin),
            "decision: deny (errno EACCES)\n"
            "rule: x\\x1b[2J.rules:1 at x\\x1b[2J.rules:1\n"
            "  deny connect if label app=\"\\x1b]0;t\\x07\"\n");
}

}  // namespace
}  // namespace sockgate::rules
