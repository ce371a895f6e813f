// Warnings for rules that can never match.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "rules/load.hpp"

namespace sockgate::rules {
namespace {

std::vector<std::string> warnings(const std::string& text) {
  const LoadResult loaded = load_policy_text("t.rules", text);
  EXPECT_TRUE(loaded.ok()) << loaded.format_diagnostics();
  std::vector<std::string> result;
  for (const auto& diagnostic : loaded.diagnostics.all()) {
    EXPECT_EQ(diagnostic.severity, parser::Severity::warning);
    result.push_back(std::to_string(diagnostic.location.line) + ": " + diagnostic.message);
  }
  return result;
}

using Warnings = std::vector<std::string>;

TEST(Shadow, BroaderEarlierRule) {
  EXPECT_EQ(warnings("rule wide: deny connect to 10.0.0.0/8\n"
                     "rule narrow: pass connect tcp to 10.1.0.0/16 port 80\n"),
            Warnings{"2: rule 'narrow' never matches: the earlier rule 'wide' at t.rules:1 "
                     "matches every call it would match"});
}

TEST(Shadow, NarrowerEarlierRuleIsFine) {
  EXPECT_EQ(warnings("rule narrow: pass connect tcp to 10.1.0.0/16 port 80\n"
                     "rule wide: deny connect to 10.0.0.0/8\n"),
            Warnings{});
}

TEST(Shadow, PartialOverlapIsFine) {
  EXPECT_EQ(warnings("rule a: deny connect to 10.0.0.0/8 port 1-100\n"
                     "rule b: deny connect to 10.0.0.0/8 port 50-150\n"
                     "rule c: deny bind udp on 10.0.0.0/8 port 1-100\n"
                     "rule d: deny bind\n"),
            Warnings{});
}

TEST(Shadow, CoverageAcrossSeveralIntervals) {
  EXPECT_EQ(warnings("rule all-but: deny connect to !192.0.2.0/24\n"
                     "rule two: pass connect to 10.0.0.1, 2001:db8::1\n"
                     "rule inside: pass connect to 192.0.2.0/25\n"),
            Warnings{"2: rule 'two' never matches: the earlier rule 'all-but' at t.rules:1 "
                     "matches every call it would match"});
}

TEST(Shadow, LabelsMustBeImplied) {
  EXPECT_EQ(warnings("rule web: deny if label app=web\n"
                     "rule web-db: deny connect if label app=web and label tier=db\n"
                     "rule any-app: pass if label app\n"
                     "rule app-x: pass bind if label app=x\n"
                     "rule not-y: pass if label app!=y\n"
                     "rule is-z: pass if label app=z\n"
                     "rule no-label: deny\n"),
            (Warnings{"2: rule 'web-db' never matches: the earlier rule 'web' at t.rules:1 "
                      "matches every call it would match",
                      "4: rule 'app-x' never matches: the earlier rule 'any-app' at t.rules:3 "
                      "matches every call it would match",
                      "6: rule 'is-z' never matches: the earlier rule 'any-app' at t.rules:3 "
                      "matches every call it would match"}));
}

TEST(Shadow, NotEqualsImpliedByOtherValue) {
  EXPECT_EQ(warnings("rule not-y: pass if label app!=y\n"
                     "rule is-z: deny connect if label app=z\n"),
            Warnings{"2: rule 'is-z' never matches: the earlier rule 'not-y' at t.rules:1 "
                     "matches every call it would match"});
}

TEST(Shadow, IdenticalRule) {
  EXPECT_EQ(warnings("rule a: pass connect port 1\nrule b: pass connect port 1\n"),
            Warnings{"2: rule 'b' never matches: the earlier rule 'a' at t.rules:1 matches every "
                     "call it would match"});
}

TEST(Shadow, ItemsThatCancelOut) {
  EXPECT_EQ(warnings("rule empty: deny connect to 10.0.0.0/8, !10.0.0.0/7\n"),
            Warnings{"1: rule 'empty' matches no address: its '!' items exclude everything the "
                     "others include"});
}

TEST(Shadow, ScopedDefaultShadowsLaterRulesInScope) {
  const auto directory =
      std::filesystem::temp_directory_path() / ("sockgate-shadow-" + std::to_string(::getpid()));
  std::filesystem::create_directories(directory);
  std::ofstream(directory / "shop.rules") << "scope if label project=shop\ndefault deny\n";
  std::ofstream(directory / "later.rules")
      << "rule shop-web: pass if label project=shop and label app=web\n"
         "rule blog: pass if label project=blog\n";
  LoadOptions options;
  options.files = {(directory / "shop.rules").string(), (directory / "later.rules").string()};
  const LoadResult loaded = load_policy(options);
  std::filesystem::remove_all(directory);

  ASSERT_TRUE(loaded.ok());
  ASSERT_EQ(loaded.diagnostics.all().size(), 1U);
  EXPECT_EQ(loaded.diagnostics.all()[0].message,
            "rule 'shop-web' never matches: the earlier rule 'shop.rules:2' at " +
                (directory / "shop.rules").string() + ":2 matches every call it would match");
  ASSERT_EQ(loaded.policy->rules().size(), 3U);
  EXPECT_EQ(loaded.policy->rules()[0].text, "default deny");
  EXPECT_EQ(loaded.policy->default_action(), Action::pass);
}

}  // namespace
}  // namespace sockgate::rules
