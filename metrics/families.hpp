// Every metric family that sockgate exports, declared in one table with its name, help text and
// type, plus the fixed label values (error kinds, actions, operations) that the families use.
#pragma once

#include <prometheus/metric_type.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "rules/event.hpp"

namespace sockgate::metrics {

// Index into the family table; also the order of the families in the text output.
enum class FamilyId : std::uint8_t {
  rule_matches,
  rule_bytes,
  rule_open_sockets,
  decisions,
  notification_duration,
  containers,
  policy_reloads,
  policy_rules,
  errors,
};
inline constexpr std::size_t kFamilyCount = 9;

struct FamilyInfo {
  std::string_view name;
  std::string_view help;
  prometheus::MetricType type;
};

const FamilyInfo& family_info(FamilyId id);
std::span<const FamilyInfo> all_families();
// Position of the family named `name` in the table, or kFamilyCount when it is not one of ours.
std::size_t family_index(std::string_view name);

// Values of the `kind` label of sockgate_errors_total. The set is fixed, so every kind is
// exported from the start at 0.
enum class ErrorKind : std::uint8_t {
  // The target process exited or was interrupted during a call (routine, not a fault).
  target_gone,
  // The container passed an invalid sockaddr length or pointer; it got EINVAL or EFAULT.
  bad_address,
  // A seccomp notification ioctl failed for another reason than target_gone.
  notification,
  // Creating, configuring or binding a host socket failed; the container got that errno.
  host_socket,
  // Installing the host socket into the container (SECCOMP_IOCTL_NOTIF_ADDFD) failed.
  install,
  // A container engine sent no state, invalid state or no descriptor to the OCI listener.
  listener,
  // A sock_diag query failed or returned a malformed message.
  sock_diag,
  // The sock_diag destroy subscription overflowed (ENOBUFS), so final byte counts were lost.
  sock_diag_overrun,
};
inline constexpr std::size_t kErrorKindCount = 8;

std::string_view to_label(ErrorKind kind);
std::string_view to_label(rules::Action action);
std::string_view to_label(rules::Operation operation);

inline constexpr std::array<rules::Action, 3> kActions = {
    rules::Action::pass, rules::Action::bypass, rules::Action::deny};

// Upper bounds in seconds of sockgate_notification_duration_seconds, from 1 us to 10 ms: a
// decision plus a connect on loopback takes tens of microseconds, a trapped call that waits for
// the target's memory or a slow ioctl reaches milliseconds.
std::span<const double> notification_buckets();

// Name of the rule series that counts the policy's default action.
inline constexpr std::string_view kDefaultRuleName = "default";

}  // namespace sockgate::metrics
