#include <gtest/gtest.h>

#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "metrics/metrics.hpp"
#include "text_lines.hpp"

namespace sockgate::metrics {
namespace {

using rules::Action;
using rules::Operation;
using testing::has_line;
using testing::series_lines;

constexpr std::uint32_t kWeb = 0;
constexpr std::uint32_t kMetadata = 1;
constexpr std::uint32_t kPublish = 2;

class RuleSeriesTest : public ::testing::Test {
 protected:
  std::vector<RuleLabels> shop_rules() const {
    return {
        {"web-out", Action::bypass, true, false},
        {"no-metadata", Action::deny, true, true},
        {"web-in", Action::bypass, false, true},
    };
  }

  Metrics metrics_;
};

TEST_F(RuleSeriesTest, BindOrdersSeriesByPolicy) {
  const auto rules = shop_rules();
  metrics_.bind_rules(rules, Action::pass);
  const std::string text = metrics_.text();

  const std::vector<std::string> matches = {
      R"(sockgate_rule_matches_total{rule="web-out",action="bypass",op="connect"} 0)",
      R"(sockgate_rule_matches_total{rule="no-metadata",action="deny",op="connect"} 0)",
      R"(sockgate_rule_matches_total{rule="no-metadata",action="deny",op="bind"} 0)",
      R"(sockgate_rule_matches_total{rule="web-in",action="bypass",op="bind"} 0)",
      R"(sockgate_rule_matches_total{rule="default",action="pass",op="connect"} 0)",
      R"(sockgate_rule_matches_total{rule="default",action="pass",op="bind"} 0)",
  };
  EXPECT_EQ(series_lines(text, "sockgate_rule_matches_total"), matches);

  // Deny rules make no sockets, so they have no byte or socket series.
  const std::vector<std::string> bytes = {
      R"(sockgate_rule_bytes_total{rule="web-out",direction="sent"} 0)",
      R"(sockgate_rule_bytes_total{rule="web-out",direction="received"} 0)",
      R"(sockgate_rule_bytes_total{rule="web-in",direction="sent"} 0)",
      R"(sockgate_rule_bytes_total{rule="web-in",direction="received"} 0)",
      R"(sockgate_rule_bytes_total{rule="default",direction="sent"} 0)",
      R"(sockgate_rule_bytes_total{rule="default",direction="received"} 0)",
  };
  EXPECT_EQ(series_lines(text, "sockgate_rule_bytes_total"), bytes);

  const std::vector<std::string> open = {
      R"(sockgate_rule_open_sockets{rule="web-out"} 0)",
      R"(sockgate_rule_open_sockets{rule="web-in"} 0)",
      R"(sockgate_rule_open_sockets{rule="default"} 0)",
  };
  EXPECT_EQ(series_lines(text, "sockgate_rule_open_sockets"), open);
  EXPECT_TRUE(has_line(text, "sockgate_policy_rules 3"));
}

TEST_F(RuleSeriesTest, DecisionIncrementsMatchedRuleAndAppliedAction) {
  const auto rules = shop_rules();
  const auto series = metrics_.bind_rules(rules, Action::pass);

  series->count_decision(kWeb, Operation::connect, Action::bypass);
  series->count_decision(kWeb, Operation::connect, Action::bypass);
  // A bypass of a container-local address is applied as pass: the rule still matched.
  series->count_decision(kWeb, Operation::connect, Action::pass);
  series->count_decision(kMetadata, Operation::connect, Action::deny);
  series->count_decision(kPublish, Operation::bind, Action::bypass);
  series->count_decision(rules::kDefaultRule, Operation::bind, Action::pass);

  const std::string text = metrics_.text();
  EXPECT_TRUE(has_line(
      text, R"(sockgate_rule_matches_total{rule="web-out",action="bypass",op="connect"} 3)"));
  EXPECT_TRUE(has_line(
      text, R"(sockgate_rule_matches_total{rule="no-metadata",action="deny",op="connect"} 1)"));
  EXPECT_TRUE(has_line(
      text, R"(sockgate_rule_matches_total{rule="no-metadata",action="deny",op="bind"} 0)"));
  EXPECT_TRUE(
      has_line(text, R"(sockgate_rule_matches_total{rule="web-in",action="bypass",op="bind"} 1)"));
  EXPECT_TRUE(
      has_line(text, R"(sockgate_rule_matches_total{rule="default",action="pass",op="bind"} 1)"));
  EXPECT_TRUE(has_line(
      text, R"(sockgate_rule_matches_total{rule="default",action="pass",op="connect"} 0)"));
  EXPECT_TRUE(has_line(text, R"(sockgate_decisions_total{action="bypass"} 3)"));
  EXPECT_TRUE(has_line(text, R"(sockgate_decisions_total{action="pass"} 2)"));
  EXPECT_TRUE(has_line(text, R"(sockgate_decisions_total{action="deny"} 1)"));
}

TEST_F(RuleSeriesTest, IndexOutOfRangeCountsOnlyTheDecision) {
  const auto rules = shop_rules();
  const auto series = metrics_.bind_rules(rules, Action::deny);
  series->count_decision(3, Operation::connect, Action::deny);
  series->count_decision(1000, Operation::connect, Action::deny);

  const std::string text = metrics_.text();
  EXPECT_TRUE(has_line(text, R"(sockgate_decisions_total{action="deny"} 2)"));
  for (const auto& line : series_lines(text, "sockgate_rule_matches_total")) {
    EXPECT_TRUE(line.ends_with(" 0")) << line;
  }
  EXPECT_EQ(series->slot(3), nullptr);
  ASSERT_NE(series->slot(rules::kDefaultRule), nullptr);
  EXPECT_EQ(series->slot(rules::kDefaultRule)->name, "default");
}

TEST_F(RuleSeriesTest, RebindKeepsRulesByNameAndRemovesOthers) {
  const auto first_rules = shop_rules();
  const auto first = metrics_.bind_rules(first_rules, Action::pass);
  first->count_decision(kWeb, Operation::connect, Action::bypass);
  first->count_decision(kMetadata, Operation::connect, Action::deny);
  first->count_decision(rules::kDefaultRule, Operation::connect, Action::pass);

  // web-out moves to index 1 and keeps its action; no-metadata is removed; dns is new.
  const std::vector<RuleLabels> second_rules = {
      {"dns", Action::pass, true, false},
      {"web-out", Action::bypass, true, false},
  };
  const auto second = metrics_.bind_rules(second_rules, Action::pass);
  second->count_decision(1, Operation::connect, Action::bypass);

  const std::string text = metrics_.text();
  const std::vector<std::string> matches = {
      R"(sockgate_rule_matches_total{rule="dns",action="pass",op="connect"} 0)",
      R"(sockgate_rule_matches_total{rule="web-out",action="bypass",op="connect"} 2)",
      R"(sockgate_rule_matches_total{rule="default",action="pass",op="connect"} 1)",
      R"(sockgate_rule_matches_total{rule="default",action="pass",op="bind"} 0)",
  };
  EXPECT_EQ(series_lines(text, "sockgate_rule_matches_total"), matches);
  EXPECT_TRUE(series_lines(text, R"(sockgate_rule_bytes_total{rule="web-in")").empty());
  EXPECT_TRUE(series_lines(text, R"(sockgate_rule_open_sockets{rule="web-in")").empty());
  EXPECT_TRUE(has_line(text, "sockgate_policy_rules 2"));
}

TEST_F(RuleSeriesTest, OldBindingInFlightNeverResurrectsRemovedSeries) {
  const auto first_rules = shop_rules();
  const auto first = metrics_.bind_rules(first_rules, Action::pass);
  const std::vector<RuleLabels> second_rules = {{"web-out", Action::bypass, true, false}};
  metrics_.bind_rules(second_rules, Action::pass);

  // A decision made with the old policy finishes after the reload.
  first->count_decision(kMetadata, Operation::connect, Action::deny);
  first->count_decision(kPublish, Operation::bind, Action::bypass);
  first->count_decision(kWeb, Operation::connect, Action::bypass);

  const std::string text = metrics_.text();
  EXPECT_TRUE(series_lines(text, R"(sockgate_rule_matches_total{rule="no-metadata")").empty());
  EXPECT_TRUE(series_lines(text, R"(sockgate_rule_matches_total{rule="web-in")").empty());
  // The kept rule shares its counters with the old binding, so that decision is counted.
  EXPECT_TRUE(has_line(
      text, R"(sockgate_rule_matches_total{rule="web-out",action="bypass",op="connect"} 1)"));
  EXPECT_TRUE(has_line(text, R"(sockgate_decisions_total{action="deny"} 1)"));
}

TEST_F(RuleSeriesTest, RemovedRuleReturnsFromZero) {
  const auto rules = shop_rules();
  const auto first = metrics_.bind_rules(rules, Action::pass);
  first->count_decision(kMetadata, Operation::connect, Action::deny);
  metrics_.bind_rules({}, Action::pass);
  metrics_.bind_rules(rules, Action::pass);

  const std::string text = metrics_.text();
  EXPECT_TRUE(has_line(
      text, R"(sockgate_rule_matches_total{rule="no-metadata",action="deny",op="connect"} 0)"));
}

TEST_F(RuleSeriesTest, ActionChangeResetsMatchesOnly) {
  const std::vector<RuleLabels> before = {{"lan", Action::pass, true, true}};
  const auto first = metrics_.bind_rules(before, Action::pass);
  first->count_decision(0, Operation::connect, Action::pass);
  const auto* traffic_before = first->slot(0)->traffic.get();

  const std::vector<RuleLabels> after = {{"lan", Action::bypass, true, true}};
  const auto second = metrics_.bind_rules(after, Action::pass);

  const std::string text = metrics_.text();
  EXPECT_TRUE(
      series_lines(text, R"(sockgate_rule_matches_total{rule="lan",action="pass")").empty());
  EXPECT_TRUE(
      has_line(text, R"(sockgate_rule_matches_total{rule="lan",action="bypass",op="connect"} 0)"));
  EXPECT_EQ(second->slot(0)->traffic.get(), traffic_before);
  EXPECT_FALSE(traffic_before->retired.load());
}

TEST_F(RuleSeriesTest, DeniedRuleRetiresItsTraffic) {
  const std::vector<RuleLabels> before = {{"lan", Action::bypass, true, true}};
  const auto first = metrics_.bind_rules(before, Action::pass);
  const std::vector<RuleLabels> after = {{"lan", Action::deny, true, true}};
  const auto second = metrics_.bind_rules(after, Action::pass);

  EXPECT_TRUE(first->slot(0)->traffic->retired.load());
  EXPECT_EQ(second->slot(0)->traffic, nullptr);
  EXPECT_TRUE(series_lines(metrics_.text(), R"(sockgate_rule_bytes_total{rule="lan")").empty());
}

TEST_F(RuleSeriesTest, DefaultDenyHasNoTrafficSeries) {
  metrics_.bind_rules({}, Action::deny);
  const std::string text = metrics_.text();
  EXPECT_TRUE(has_line(
      text, R"(sockgate_rule_matches_total{rule="default",action="deny",op="connect"} 0)"));
  EXPECT_TRUE(series_lines(text, "sockgate_rule_bytes_total").empty());
  EXPECT_TRUE(series_lines(text, "sockgate_rule_open_sockets").empty());
}

TEST_F(RuleSeriesTest, InvalidNamesAreRejected) {
  const std::vector<RuleLabels> repeated = {{"web", Action::pass, true, true},
                                            {"web", Action::deny, true, true}};
  EXPECT_THROW(metrics_.bind_rules(repeated, Action::pass), std::invalid_argument);
  const std::vector<RuleLabels> reserved = {{"default", Action::pass, true, true}};
  EXPECT_THROW(metrics_.bind_rules(reserved, Action::pass), std::invalid_argument);
  const std::vector<RuleLabels> empty = {{"", Action::pass, true, true}};
  EXPECT_THROW(metrics_.bind_rules(empty, Action::pass), std::invalid_argument);
  try {
    metrics_.bind_rules(repeated, Action::pass);
  } catch (const std::invalid_argument& error) {
    EXPECT_EQ(std::string(error.what()),
              "rule name \"web\" is used twice; rule names must be unique");
  }
}

TEST_F(RuleSeriesTest, LabelValuesAreEscaped) {
  const std::vector<RuleLabels> rules = {{"shop.rules:7", Action::pass, true, false},
                                         {"quote\"back\\slash", Action::deny, true, false}};
  metrics_.bind_rules(rules, Action::pass);
  const std::string text = metrics_.text();
  EXPECT_TRUE(has_line(
      text, R"(sockgate_rule_matches_total{rule="shop.rules:7",action="pass",op="connect"} 0)"));
  EXPECT_TRUE(has_line(
      text,
      R"(sockgate_rule_matches_total{rule="quote\"back\\slash",action="deny",op="connect"} 0)"));
}

TEST_F(RuleSeriesTest, SnapshotReportsRulesAndTotals) {
  const auto rules = shop_rules();
  const auto series = metrics_.bind_rules(rules, Action::pass);
  series->count_decision(kWeb, Operation::connect, Action::bypass);
  series->count_decision(kPublish, Operation::bind, Action::bypass);
  series->count_decision(kPublish, Operation::bind, Action::bypass);

  const Snapshot snapshot = metrics_.snapshot();
  ASSERT_EQ(snapshot.rules.size(), 4U);
  EXPECT_EQ(snapshot.rules[0].name, "web-out");
  EXPECT_EQ(snapshot.rules[0].action, Action::bypass);
  EXPECT_EQ(snapshot.rules[0].connect_matches, 1U);
  EXPECT_TRUE(snapshot.rules[0].counts_traffic);
  EXPECT_EQ(snapshot.rules[1].name, "no-metadata");
  EXPECT_FALSE(snapshot.rules[1].counts_traffic);
  EXPECT_EQ(snapshot.rules[2].bind_matches, 2U);
  EXPECT_EQ(snapshot.rules[3].name, "default");
  EXPECT_EQ(snapshot.rules[3].action, Action::pass);
  EXPECT_EQ(snapshot.decisions[static_cast<std::size_t>(Action::bypass)], 3U);
  EXPECT_EQ(snapshot.policy_rules, 3);
}

TEST_F(RuleSeriesTest, ConcurrentDecisionsAndRebindsCountEveryKeptMatch) {
  const std::vector<RuleLabels> rules = {{"web", Action::bypass, true, false},
                                         {"gone", Action::deny, true, false}};
  const auto series = metrics_.bind_rules(rules, Action::pass);
  constexpr int kPerThread = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&series] {
      for (int i = 0; i < kPerThread; ++i) {
        series->count_decision(0, Operation::connect, Action::bypass);
        series->count_decision(1, Operation::connect, Action::deny);
      }
    });
  }
  const std::vector<RuleLabels> web_only = {{"web", Action::bypass, true, false}};
  for (int i = 0; i < 50; ++i) {
    metrics_.bind_rules(i % 2 == 0 ? std::span<const RuleLabels>(web_only) : rules, Action::pass);
    (void)metrics_.text();
  }
  for (auto& thread : threads) {
    thread.join();
  }
  metrics_.bind_rules(web_only, Action::pass);
  EXPECT_TRUE(
      has_line(metrics_.text(),
               R"(sockgate_rule_matches_total{rule="web",action="bypass",op="connect"} 200000)"));
}

}  // namespace
}  // namespace sockgate::metrics
