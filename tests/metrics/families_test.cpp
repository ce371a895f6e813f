#include "metrics/families.hpp"

#include <gtest/gtest.h>

#include <set>
#include <string>

#include "metrics/metrics.hpp"
#include "text_lines.hpp"

namespace sockgate::metrics {
namespace {

using testing::has_line;
using testing::series_lines;

TEST(FamilyTable, NamesAreExactAndUnique) {
  const std::vector<std::string> expected = {
      "sockgate_rule_matches_total",
      "sockgate_rule_bytes_total",
      "sockgate_rule_open_sockets",
      "sockgate_decisions_total",
      "sockgate_notification_duration_seconds",
      "sockgate_containers",
      "sockgate_policy_reloads_total",
      "sockgate_policy_rules",
      "sockgate_errors_total",
  };
  ASSERT_EQ(all_families().size(), expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(all_families()[i].name, expected[i]);
    EXPECT_EQ(family_index(expected[i]), i);
    EXPECT_FALSE(all_families()[i].help.empty()) << expected[i];
  }
  EXPECT_EQ(family_index("sockgate_unknown"), kFamilyCount);
}

TEST(FamilyTable, ErrorKindsAreTheDocumentedSet) {
  std::set<std::string_view> kinds;
  for (std::size_t i = 0; i < kErrorKindCount; ++i) {
    kinds.insert(to_label(static_cast<ErrorKind>(i)));
  }
  const std::set<std::string_view> expected = {"target_gone", "bad_address",      "notification",
                                               "host_socket", "install",          "listener",
                                               "sock_diag",   "sock_diag_overrun"};
  EXPECT_EQ(kinds, expected);
}

TEST(FamilyTable, BucketsSpanOneMicrosecondToTenMilliseconds) {
  const auto buckets = notification_buckets();
  ASSERT_FALSE(buckets.empty());
  EXPECT_DOUBLE_EQ(buckets.front(), 1e-6);
  EXPECT_DOUBLE_EQ(buckets.back(), 1e-2);
  EXPECT_TRUE(std::is_sorted(buckets.begin(), buckets.end()));
}

TEST(MetricsText, EveryFamilyHasHelpAndType) {
  Metrics metrics;
  const std::string text = metrics.text();
  for (const FamilyInfo& family : all_families()) {
    const std::string help = "# HELP " + std::string(family.name) + " " + std::string(family.help);
    EXPECT_TRUE(has_line(text, help)) << help;
  }
  EXPECT_TRUE(has_line(text, "# TYPE sockgate_rule_matches_total counter"));
  EXPECT_TRUE(has_line(text, "# TYPE sockgate_rule_bytes_total counter"));
  EXPECT_TRUE(has_line(text, "# TYPE sockgate_rule_open_sockets gauge"));
  EXPECT_TRUE(has_line(text, "# TYPE sockgate_decisions_total counter"));
  EXPECT_TRUE(has_line(text, "# TYPE sockgate_notification_duration_seconds histogram"));
  EXPECT_TRUE(has_line(text, "# TYPE sockgate_containers gauge"));
  EXPECT_TRUE(has_line(text, "# TYPE sockgate_policy_reloads_total counter"));
  EXPECT_TRUE(has_line(text, "# TYPE sockgate_policy_rules gauge"));
  EXPECT_TRUE(has_line(text, "# TYPE sockgate_errors_total counter"));
}

TEST(MetricsText, FixedSeriesStartAtZero) {
  Metrics metrics;
  const std::string text = metrics.text();
  const std::vector<std::string> decisions = {
      R"(sockgate_decisions_total{action="bypass"} 0)",
      R"(sockgate_decisions_total{action="deny"} 0)",
      R"(sockgate_decisions_total{action="pass"} 0)",
  };
  EXPECT_EQ(series_lines(text, "sockgate_decisions_total"), decisions);
  const std::vector<std::string> reloads = {
      R"(sockgate_policy_reloads_total{result="failure"} 0)",
      R"(sockgate_policy_reloads_total{result="success"} 0)",
  };
  EXPECT_EQ(series_lines(text, "sockgate_policy_reloads_total"), reloads);
  EXPECT_EQ(series_lines(text, "sockgate_errors_total").size(), kErrorKindCount);
  EXPECT_TRUE(has_line(text, R"(sockgate_errors_total{kind="sock_diag_overrun"} 0)"));
  EXPECT_TRUE(has_line(text, "sockgate_containers 0"));
  EXPECT_TRUE(has_line(text, "sockgate_policy_rules 0"));
  EXPECT_TRUE(series_lines(text, "sockgate_rule_").empty());
}

TEST(MetricsText, FamiliesFollowTableOrder) {
  Metrics metrics;
  const std::string text = metrics.text();
  std::size_t previous = 0;
  for (const FamilyInfo& family : all_families()) {
    const auto position = text.find("# HELP " + std::string(family.name) + " ");
    ASSERT_NE(position, std::string::npos) << family.name;
    EXPECT_GE(position, previous) << family.name;
    previous = position;
  }
}

TEST(MetricsText, HistogramObservesIntoBuckets) {
  Metrics metrics;
  metrics.observe_notification(std::chrono::microseconds(30));
  metrics.observe_notification(std::chrono::milliseconds(20));
  const std::string text = metrics.text();
  EXPECT_TRUE(has_line(text, "sockgate_notification_duration_seconds_count 2"));
  EXPECT_TRUE(has_line(text, R"(sockgate_notification_duration_seconds_bucket{le="2.5e-05"} 0)"));
  EXPECT_TRUE(has_line(text, R"(sockgate_notification_duration_seconds_bucket{le="5e-05"} 1)"));
  EXPECT_TRUE(has_line(text, R"(sockgate_notification_duration_seconds_bucket{le="0.01"} 1)"));
  EXPECT_TRUE(has_line(text, R"(sockgate_notification_duration_seconds_bucket{le="+Inf"} 2)"));
}

TEST(MetricsText, GaugesAndCountersOfTheGateway) {
  Metrics metrics;
  metrics.add_containers(1);
  metrics.add_containers(1);
  metrics.add_containers(-1);
  metrics.count_reload(ReloadResult::success);
  metrics.count_reload(ReloadResult::failure);
  metrics.count_reload(ReloadResult::failure);
  metrics.count_error(ErrorKind::target_gone);
  metrics.count_error(ErrorKind::listener, 3);
  const std::string text = metrics.text();
  EXPECT_TRUE(has_line(text, "sockgate_containers 1"));
  EXPECT_TRUE(has_line(text, R"(sockgate_policy_reloads_total{result="success"} 1)"));
  EXPECT_TRUE(has_line(text, R"(sockgate_policy_reloads_total{result="failure"} 2)"));
  EXPECT_TRUE(has_line(text, R"(sockgate_errors_total{kind="target_gone"} 1)"));
  EXPECT_TRUE(has_line(text, R"(sockgate_errors_total{kind="listener"} 3)"));
  EXPECT_TRUE(has_line(text, R"(sockgate_errors_total{kind="install"} 0)"));

  const Snapshot snapshot = metrics.snapshot();
  EXPECT_EQ(snapshot.containers, 1);
  EXPECT_EQ(snapshot.reloads_succeeded, 1U);
  EXPECT_EQ(snapshot.reloads_failed, 2U);
  EXPECT_EQ(snapshot.errors[static_cast<std::size_t>(ErrorKind::listener)], 3U);
  EXPECT_EQ(snapshot.errors[static_cast<std::size_t>(ErrorKind::target_gone)], 1U);
}

}  // namespace
}  // namespace sockgate::metrics
