#include "metrics/families.hpp"

namespace sockgate::metrics {
namespace {

using prometheus::MetricType;

constexpr std::array<FamilyInfo, kFamilyCount> kFamilies = {{
    {"sockgate_rule_matches_total",
     "Calls that matched a rule, by rule name, the rule's action and the operation (connect or "
     "bind). The policy's default action is the rule named \"default\".",
     MetricType::Counter},
    {"sockgate_rule_bytes_total",
     "Payload bytes of the TCP sockets that a rule bypassed or passed, from the kernel's "
     "per-socket counters: sent bytes acknowledged by the peer, and received bytes.",
     MetricType::Counter},
    {"sockgate_rule_open_sockets",
     "TCP sockets that a rule bypassed or passed and whose byte counts are tracked, while they "
     "are open.",
     MetricType::Gauge},
    {"sockgate_decisions_total",
     "Calls decided, by the action applied. A bypass of an address local to the container is "
     "applied as pass.",
     MetricType::Counter},
    {"sockgate_notification_duration_seconds",
     "Time from receiving a seccomp notification to answering it.", MetricType::Histogram},
    {"sockgate_containers", "Containers attached to the gateway.", MetricType::Gauge},
    {"sockgate_policy_reloads_total", "Policy reloads, by result (success or failure).",
     MetricType::Counter},
    {"sockgate_policy_rules", "Rules in the active policy, without the default action.",
     MetricType::Gauge},
    {"sockgate_errors_total", "Errors handled by the gateway, by kind.", MetricType::Counter},
}};

constexpr std::array<std::string_view, kErrorKindCount> kErrorKinds = {
    "target_gone", "bad_address", "notification", "host_socket",
    "install",     "listener",    "sock_diag",    "sock_diag_overrun",
};

constexpr std::array<double, 13> kNotificationBuckets = {
    1e-6, 2.5e-6, 5e-6, 1e-5, 2.5e-5, 5e-5, 1e-4, 2.5e-4, 5e-4, 1e-3, 2.5e-3, 5e-3, 1e-2,
};

}  // namespace

const FamilyInfo& family_info(FamilyId id) {
  return kFamilies[static_cast<std::size_t>(id)];
}

std::span<const FamilyInfo> all_families() {
  return kFamilies;
}

std::size_t family_index(std::string_view name) {
  for (std::size_t i = 0; i < kFamilies.size(); ++i) {
    if (kFamilies[i].name == name) {
      return i;
    }
  }
  return kFamilyCount;
}

std::string_view to_label(ErrorKind kind) {
  return kErrorKinds[static_cast<std::size_t>(kind)];
}

std::string_view to_label(rules::Action action) {
  switch (action) {
    case rules::Action::pass:
      return "pass";
    case rules::Action::bypass:
      return "bypass";
    case rules::Action::deny:
      return "deny";
  }
  return "unknown";
}

std::string_view to_label(rules::Operation operation) {
  switch (operation) {
    case rules::Operation::connect:
      return "connect";
    case rules::Operation::bind:
      return "bind";
  }
  return "unknown";
}

std::span<const double> notification_buckets() {
  return kNotificationBuckets;
}

}  // namespace sockgate::metrics
