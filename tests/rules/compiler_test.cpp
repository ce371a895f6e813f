// The compiler and matcher on hand-written policies: decisions, rule infos, defaults, scopes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <fstream>

#include "rules/load.hpp"

namespace sockgate::rules {
namespace {

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

Event event(Operation operation, Protocol protocol, const char* address, std::uint16_t port) {
  Event result;
  result.operation = operation;
  result.protocol = protocol;
  result.address = *IpAddress::parse(address);
  result.port = port;
  return result;
}

class ShopPolicy : public ::testing::Test {
 protected:
  void SetUp() override {
    loaded_ = load_policy_text("shop.rules", kShop);
    ASSERT_TRUE(loaded_.ok()) << loaded_.format_diagnostics();
    web_ = loaded_.policy->subject(LabelSet({{"project", "shop"}, {"app", "web"}}));
    other_ = loaded_.policy->subject(LabelSet({{"project", "blog"}, {"app", "web"}}));
  }

  Decision decide(const Subject& subject, Operation operation, Protocol protocol,
                  const char* address, std::uint16_t port) const {
    return loaded_.policy->decide(event(operation, protocol, address, port), subject);
  }

  std::string rule_name(const Decision& decision) const {
    return decision.rule == kDefaultRule ? "default" : loaded_.policy->rules()[decision.rule].name;
  }

  LoadResult loaded_;
  Subject web_;
  Subject other_;
};

TEST_F(ShopPolicy, RuleInfos) {
  // The default of a scoped file is a catch-all rule for the containers in scope.
  const auto rules = loaded_.policy->rules();
  ASSERT_EQ(rules.size(), 7U);
  EXPECT_EQ(rules[0].name, "no-metadata");
  EXPECT_EQ(rules[0].action, Action::deny);
  EXPECT_TRUE(rules[0].matches_connect);
  EXPECT_FALSE(rules[0].matches_bind);
  EXPECT_EQ(rules[0].location, "shop.rules:7");
  EXPECT_EQ(rules[0].text, "rule no-metadata: deny   connect tcp,udp to @metadata");
  EXPECT_EQ(rules[4].name, "web-in");
  EXPECT_FALSE(rules[4].matches_connect);
  EXPECT_TRUE(rules[4].matches_bind);
  EXPECT_EQ(rules[6].name, "shop.rules:13");
  EXPECT_EQ(rules[6].text, "default pass");
  EXPECT_EQ(rules[6].location, "shop.rules:13");
  EXPECT_TRUE(rules[6].matches_connect);
  EXPECT_TRUE(rules[6].matches_bind);
  EXPECT_EQ(loaded_.policy->default_action(), Action::pass);
  EXPECT_EQ(loaded_.default_origin, "built-in pass");
  EXPECT_EQ(loaded_.diagnostics.all().size(), 0U);
}

TEST_F(ShopPolicy, MetadataDeniedWithEacces) {
  const Decision v4 = decide(web_, Operation::connect, Protocol::tcp, "169.254.169.254", 80);
  EXPECT_EQ(rule_name(v4), "no-metadata");
  EXPECT_EQ(v4.action, Action::deny);
  EXPECT_EQ(v4.error, EACCES);
  const Decision v6 = decide(web_, Operation::connect, Protocol::udp, "fd00:ec2::254", 53);
  EXPECT_EQ(rule_name(v6), "no-metadata");
  const Decision mapped =
      decide(web_, Operation::connect, Protocol::tcp, "::ffff:169.254.169.254", 443);
  EXPECT_EQ(rule_name(mapped), "no-metadata");
}

TEST_F(ShopPolicy, PortsProtocolsAndLabels) {
  EXPECT_EQ(rule_name(decide(web_, Operation::connect, Protocol::udp, "10.0.2.3", 53)), "dns");
  EXPECT_EQ(rule_name(decide(web_, Operation::connect, Protocol::tcp, "10.0.2.3", 53)), "lan");
  EXPECT_EQ(rule_name(decide(web_, Operation::connect, Protocol::tcp, "203.0.113.7", 443)),
            "web-out");
  EXPECT_EQ(rule_name(decide(web_, Operation::connect, Protocol::tcp, "203.0.113.7", 8999)),
            "web-out");
  EXPECT_EQ(rule_name(decide(web_, Operation::connect, Protocol::tcp, "203.0.113.7", 9000)),
            "shop.rules:13");
  const Subject db = loaded_.policy->subject(LabelSet({{"project", "shop"}, {"app", "db"}}));
  EXPECT_EQ(rule_name(decide(db, Operation::connect, Protocol::tcp, "203.0.113.7", 443)),
            "shop.rules:13");
}

TEST_F(ShopPolicy, ScopeExcludesOtherProjects) {
  const Decision decision =
      decide(other_, Operation::connect, Protocol::tcp, "169.254.169.254", 80);
  EXPECT_EQ(decision.rule, kDefaultRule);
  EXPECT_EQ(decision.action, Action::pass);
  EXPECT_EQ(decision.error, 0);
  EXPECT_EQ(other_.rule_mask, std::vector<std::uint64_t>{0});
  EXPECT_EQ(web_.rule_mask, std::vector<std::uint64_t>{0x7f});
}

TEST_F(ShopPolicy, PublishAndErrno) {
  const Decision bind = decide(web_, Operation::bind, Protocol::tcp, "0.0.0.0", 80);
  EXPECT_EQ(rule_name(bind), "web-in");
  EXPECT_EQ(bind.action, Action::bypass);
  ASSERT_TRUE(bind.publish);
  EXPECT_EQ(bind.publish->port, 8080);
  ASSERT_TRUE(bind.publish->address);
  EXPECT_EQ(bind.publish->address->to_string(), "127.0.0.1");
  EXPECT_FALSE(decide(web_, Operation::bind, Protocol::udp, "0.0.0.0", 80).publish);

  const Decision smtp = decide(web_, Operation::connect, Protocol::tcp, "198.51.100.1", 25);
  EXPECT_EQ(rule_name(smtp), "refused");
  EXPECT_EQ(smtp.error, ECONNREFUSED);
}

Decision decide_text(const char* text, const Event& event, const LabelSet& labels = {}) {
  const LoadResult loaded = load_policy_text("t.rules", text);
  EXPECT_TRUE(loaded.ok()) << loaded.format_diagnostics();
  if (!loaded.ok()) {
    return {};
  }
  return loaded.policy->decide(event, loaded.policy->subject(labels));
}

TEST(Compiler, NegationExcludesFromTheList) {
  const char* text = "rule r: deny connect to 10.0.0.0/8, !10.1.0.0/16, !10.2.3.4\n";
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "10.9.0.1", 1)).rule, 0U);
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "10.1.0.1", 1)).rule,
            kDefaultRule);
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "10.2.3.4", 1)).rule,
            kDefaultRule);
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "10.2.3.5", 1)).rule, 0U);
}

TEST(Compiler, OnlyNegatedItemsMeanEverythingElse) {
  const char* text = "rule r: deny connect to !127.0.0.0/8, !::1\n";
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "127.0.0.1", 1)).rule,
            kDefaultRule);
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "::1", 1)).rule,
            kDefaultRule);
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "2001:db8::1", 1)).rule, 0U);
}

TEST(Compiler, Ipv4RulesMatchMappedAddressesOnly) {
  const char* text = "rule v4: deny connect to 0.0.0.0/0\n";
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "::ffff:1.2.3.4", 1)).rule,
            0U);
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "2001:db8::1", 1)).rule,
            kDefaultRule);
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "::1.2.3.4", 1)).rule,
            kDefaultRule);
}

TEST(Compiler, WildcardBindAddresses) {
  const char* text = "rule v4: deny bind on 0.0.0.0\nrule v6: pass bind on ::\n";
  EXPECT_EQ(decide_text(text, event(Operation::bind, Protocol::tcp, "0.0.0.0", 80)).rule, 0U);
  EXPECT_EQ(decide_text(text, event(Operation::bind, Protocol::tcp, "::", 80)).rule, 1U);
  EXPECT_EQ(decide_text(text, event(Operation::bind, Protocol::tcp, "127.0.0.1", 80)).rule,
            kDefaultRule);
  EXPECT_EQ(
      decide_text("deny bind on any\n", event(Operation::bind, Protocol::tcp, "::1", 80)).rule, 0U);
}

TEST(Compiler, NoPortClauseMatchesPortZero) {
  EXPECT_EQ(decide_text("deny bind\n", event(Operation::bind, Protocol::udp, "::", 0)).rule, 0U);
  EXPECT_EQ(
      decide_text("deny bind port 1-65535\n", event(Operation::bind, Protocol::udp, "::", 0)).rule,
      kDefaultRule);
}

TEST(Compiler, NestedSets) {
  const char* text =
      "set inner = { 192.0.2.0/24 }\nset outer = { @inner, 2001:db8::/32 }\n"
      "rule r: deny connect to @outer\n";
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "192.0.2.9", 1)).rule, 0U);
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "2001:db8::9", 1)).rule, 0U);
  EXPECT_EQ(decide_text(text, event(Operation::connect, Protocol::tcp, "192.0.3.1", 1)).rule,
            kDefaultRule);
}

TEST(Compiler, LargeBlockListSet) {
  // 50,000 separate addresses; uniting them one by one took minutes, once takes milliseconds.
  std::string text = "set blocked = {";
  for (int i = 0; i < 50000; ++i) {
    text += (i == 0 ? " 10." : ", 10.") + std::to_string(i / 32768) + "." +
            std::to_string(i / 128 % 256) + "." + std::to_string(i * 2 % 256);
  }
  text += " }\nrule blocked: deny connect to @blocked\nrule rest: pass connect to !@blocked\n";
  const LoadResult loaded = load_policy_text("t.rules", text);
  ASSERT_TRUE(loaded.ok()) << loaded.format_diagnostics();
  const Subject subject = loaded.policy->subject({});
  const auto rule_for = [&](const char* address) {
    return loaded.policy->decide(event(Operation::connect, Protocol::tcp, address, 80), subject)
        .rule;
  };
  EXPECT_EQ(rule_for("10.0.0.0"), 0U);
  EXPECT_EQ(rule_for("10.0.0.1"), 1U);
  EXPECT_EQ(rule_for("10.1.134.32"), 0U);
  EXPECT_EQ(rule_for("10.1.134.33"), 1U);
}

TEST(Compiler, LabelConditionSemantics) {
  const char* text = "rule r: pass if label a!=x and label b\n";
  const Event any = event(Operation::connect, Protocol::tcp, "192.0.2.1", 1);
  EXPECT_EQ(decide_text(text, any, LabelSet({{"b", ""}, {"c", "1"}})).rule, 0U);
  EXPECT_EQ(decide_text(text, any, LabelSet({{"a", "y"}, {"b", "1"}})).rule, 0U);
  EXPECT_EQ(decide_text(text, any, LabelSet({{"a", "x"}, {"b", "1"}})).rule, kDefaultRule);
  EXPECT_EQ(decide_text(text, any, LabelSet({{"a", "y"}, {"c", "1"}})).rule, kDefaultRule);
}

TEST(Compiler, DefaultDenyErrno) {
  const Decision decision = decide_text("default deny errno ENETUNREACH\n",
                                        event(Operation::connect, Protocol::tcp, "::1", 5));
  EXPECT_EQ(decision.action, Action::deny);
  EXPECT_EQ(decision.error, ENETUNREACH);
  EXPECT_EQ(decision.rule, kDefaultRule);
  EXPECT_EQ(decide_text("default deny\n", event(Operation::bind, Protocol::tcp, "::", 0)).error,
            EACCES);
}

TEST(Compiler, ConfigurationDefaultOverridesFile) {
  const LoadResult loaded = load_policy_text("t.rules", "default deny\n", Action::bypass);
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.policy->default_action(), Action::bypass);
  EXPECT_EQ(loaded.default_origin, "configuration");
}

TEST(Compiler, WithoutDefaultPasses) {
  const LoadResult loaded = load_policy_text("t.rules", "rule r: deny connect port 1\n");
  ASSERT_TRUE(loaded.ok());
  EXPECT_EQ(loaded.policy->default_action(), Action::pass);
  EXPECT_EQ(loaded.default_origin, "built-in pass");
}

TEST(Compiler, UnnamedRulesUseFileAndLine) {
  const LoadResult loaded = load_policy_text("dir/x.rules", "\ndeny connect port 1\n");
  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded.policy->rules().size(), 1U);
  EXPECT_EQ(loaded.policy->rules()[0].name, "x.rules:2");
  EXPECT_EQ(loaded.policy->rules()[0].location, "dir/x.rules:2");
}

TEST(Compiler, ErrorsLeaveNoPolicy) {
  const LoadResult loaded = load_policy_text("t.rules", "deny connect to @missing\n");
  EXPECT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.format_diagnostics(),
            "t.rules:1:17: error: unknown set 'missing'; define it with 'set missing = { ... }'\n"
            "deny connect to @missing\n"
            "                ^\n");
}

TEST(Compiler, EmptyPolicyUsesDefault) {
  const LoadResult loaded = load_policy_text("t.rules", "");
  ASSERT_TRUE(loaded.ok());
  const Subject subject = loaded.policy->subject({});
  EXPECT_TRUE(subject.rule_mask.empty());
  EXPECT_EQ(loaded.policy->decide(event(Operation::connect, Protocol::tcp, "::1", 1), subject).rule,
            kDefaultRule);
}

TEST(Compiler, StaleSubjectIsReadSafely) {
  // A Subject computed for a smaller policy covers fewer words; the missing words count as 0.
  std::string text;
  for (int i = 0; i < 130; ++i) {
    text += "rule r" + std::to_string(i) + ": deny connect port " + std::to_string(i + 1) + "\n";
  }
  const LoadResult loaded = load_policy_text("t.rules", text);
  ASSERT_TRUE(loaded.ok());
  Subject stale;
  stale.rule_mask = {~std::uint64_t{0}};
  EXPECT_EQ(loaded.policy->decide(event(Operation::connect, Protocol::tcp, "::1", 64), stale).rule,
            63U);
  EXPECT_EQ(loaded.policy->decide(event(Operation::connect, Protocol::tcp, "::1", 129), stale).rule,
            kDefaultRule);
  const Subject fresh = loaded.policy->subject({});
  EXPECT_EQ(loaded.policy->decide(event(Operation::connect, Protocol::tcp, "::1", 129), fresh).rule,
            128U);
}

TEST(Compiler, BuiltinPolicy) {
  LoadOptions options;
  options.publish.push_back(PublishSpec{std::nullopt, 8080, 80, Protocol::tcp});
  const LoadResult loaded = load_policy(options);
  ASSERT_TRUE(loaded.ok()) << loaded.format_diagnostics();
  const auto rules = loaded.policy->rules();
  ASSERT_EQ(rules.size(), 2U);
  EXPECT_EQ(rules[0].name, "publish-8080-80-tcp");
  EXPECT_EQ(rules[1].name, "tcp-connect");
  EXPECT_EQ(rules[1].location, "<built-in>:5");
  const Subject subject = loaded.policy->subject({});
  const Decision connect =
      loaded.policy->decide(event(Operation::connect, Protocol::tcp, "203.0.113.1", 443), subject);
  EXPECT_EQ(connect.action, Action::bypass);
  EXPECT_EQ(connect.rule, 1U);
  const Decision udp =
      loaded.policy->decide(event(Operation::connect, Protocol::udp, "203.0.113.1", 53), subject);
  EXPECT_EQ(udp.action, Action::pass);
  EXPECT_EQ(udp.rule, kDefaultRule);
  const Decision bind =
      loaded.policy->decide(event(Operation::bind, Protocol::tcp, "0.0.0.0", 80), subject);
  EXPECT_EQ(bind.action, Action::bypass);
  ASSERT_TRUE(bind.publish);
  EXPECT_EQ(bind.publish->port, 8080);
  EXPECT_FALSE(bind.publish->address);
  EXPECT_EQ(
      loaded.policy->decide(event(Operation::bind, Protocol::tcp, "0.0.0.0", 81), subject).action,
      Action::pass);
}

TEST(Compiler, PublishRulesGoBeforeFileRules) {
  const auto path = std::filesystem::temp_directory_path() /
                    ("sockgate-publish-" + std::to_string(::getpid()) + ".rules");
  std::ofstream(path) << "rule all: deny bind\n";
  LoadOptions options;
  options.files = {path.string()};
  options.publish.push_back(PublishSpec{std::nullopt, 8080, 80, Protocol::tcp});
  const LoadResult loaded = load_policy(options);
  std::filesystem::remove(path);
  ASSERT_TRUE(loaded.ok()) << loaded.format_diagnostics();

  const Subject subject = loaded.policy->subject({});
  const Decision published =
      loaded.policy->decide(event(Operation::bind, Protocol::tcp, "::", 80), subject);
  EXPECT_EQ(published.rule, 0U);
  EXPECT_EQ(published.action, Action::bypass);
  EXPECT_EQ(loaded.policy->rules()[0].location, "<--publish>:1");
  const Decision other =
      loaded.policy->decide(event(Operation::bind, Protocol::tcp, "::", 81), subject);
  EXPECT_EQ(other.rule, 1U);
  EXPECT_EQ(other.action, Action::deny);
}

TEST(Compiler, MissingFileIsAnError) {
  LoadOptions options;
  options.files = {"/nonexistent/sockgate-test.rules"};
  const LoadResult loaded = load_policy(options);
  EXPECT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.format_diagnostics(),
            "/nonexistent/sockgate-test.rules: error: cannot read "
            "rule file: No such file or directory\n");
}

}  // namespace
}  // namespace sockgate::rules
