// metrics/: sockgate's Prometheus metrics.
//
// It owns the prometheus-cpp registry, the families declared in families.hpp, the per-rule
// series, the byte accounting of TCP sockets through sock_diag, and the HTTP exposer. It uses
// nothing of core/ or parser/, and of rules/ only the Action and Operation enums.
//
// What flows in, from the core:
// - Once per compiled policy, the rules' labels (bind_rules). This resolves every per-rule
//   series and returns a RuleSeries, which the decision path only increments by rule index.
// - Per decision, RuleSeries::count_decision and observe_notification.
// - Per bypassed (or passed) TCP socket, its cookie (track_socket). The kernel's counters of
//   the socket are then read through NETLINK_SOCK_DIAG, and no descriptor of it is kept.
// - Container attach and detach, reload results, and errors by kind.
// What flows out: the text exposition at /metrics, and a Snapshot for `sockgate status`.
//
// Thread safety: every member function may be called from any thread. Metrics must outlive
// the TcpSource handles only for them to keep counting; RuleSeries keep what they use alive.
#pragma once

#include <prometheus/metric_family.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "metrics/byte_accounting.hpp"
#include "metrics/exposer.hpp"
#include "metrics/families.hpp"
#include "metrics/rule_series.hpp"
#include "rules/event.hpp"

namespace sockgate::metrics {

enum class ReloadResult : std::uint8_t { success, failure };

// One rule's values for `sockgate status`.
struct RuleSnapshot {
  std::string name;
  rules::Action action = rules::Action::pass;
  bool matches_connect = true;
  bool matches_bind = true;
  std::uint64_t connect_matches = 0;
  std::uint64_t bind_matches = 0;
  // False for deny rules, which have no byte or socket counts.
  bool counts_traffic = false;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  std::int64_t open_sockets = 0;
};

struct Snapshot {
  // The bound rules in policy order, then the default action named "default".
  std::vector<RuleSnapshot> rules;
  // Indexed by rules::Action.
  std::array<std::uint64_t, 3> decisions{};
  std::int64_t containers = 0;
  std::int64_t policy_rules = 0;
  std::uint64_t reloads_succeeded = 0;
  std::uint64_t reloads_failed = 0;
  // Open TCP sockets whose bytes are counted, over all sources.
  std::size_t tracked_sockets = 0;
  // Indexed by ErrorKind.
  std::array<std::uint64_t, kErrorKindCount> errors{};
};

class Metrics {
 public:
  // Creates the registry and its families and starts the sock_diag reader thread. Opens no
  // port until serve().
  Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;
  ~Metrics();

  // Serves /metrics on IPV4:PORT; port 0 takes a free port, which port() then returns. Throws
  // MetricsError naming the address when it is invalid or in use.
  void serve(std::string_view address);
  // The port served, or 0 before serve().
  std::uint16_t port() const;

  // Binds a compiled policy's rules (in policy order) and its default action, and sets
  // sockgate_policy_rules. Rules kept by name keep their values; series of dropped rules leave
  // the output. Throws std::invalid_argument for an empty, repeated or "default" name.
  std::shared_ptr<const RuleSeries> bind_rules(std::span<const RuleLabels> rules,
                                               rules::Action default_action);

  // Observes the time from receiving a notification to sending its response.
  void observe_notification(std::chrono::nanoseconds duration) noexcept;
  // Adds `delta` to sockgate_containers: 1 when a container attaches, -1 when it ends.
  void add_containers(std::int64_t delta) noexcept;
  void count_reload(ReloadResult result) noexcept;
  void count_error(ErrorKind kind, std::uint64_t count = 1) noexcept;

  // The TCP sockets of the gateway's own network namespace. Throws std::system_error.
  std::shared_ptr<TcpSource> open_host_source();
  // The TCP sockets of another network namespace, from two NETLINK_SOCK_DIAG sockets created
  // there (for example by a thread that entered it with setns). Takes ownership of both
  // descriptors, also when it throws std::system_error.
  std::shared_ptr<TcpSource> adopt_source(int query_fd, int destroy_fd);
  // Counts the bytes of the TCP socket `cookie` (its SO_COOKIE) of `source` into the traffic
  // series of `rule` of `series`. Call it right after making the socket, before the container
  // can close it. A deny rule, an index out of range or a rule already dropped count nothing.
  void track_socket(const TcpSource& source, std::uint64_t cookie, const RuleSeries& series,
                    std::uint32_t rule, Opening opening = Opening::active);

  // Counts the bytes of the TCP sockets that the listening socket `fd` (bound, and listening
  // or about to) of `source` accepts, into the traffic series of `rule`. Reads the socket's
  // cookie and local address now and keeps no descriptor. Returns false, with a warning logged,
  // when `fd` is not a bound TCP socket.
  bool track_listener(const TcpSource& source, int fd, const RuleSeries& series,
                      std::uint32_t rule);

  // Applies the queued destroy messages and reads the open sockets' counters, then returns
  // every family in table order.
  std::vector<prometheus::MetricFamily> collect();
  // collect() in the Prometheus text exposition format, as served at /metrics.
  std::string text();
  // Applies the queued destroy messages and reads the open sockets' counters, then returns the
  // values for `sockgate status`: the rules of `series`, or of the series bound last when null.
  Snapshot snapshot(std::shared_ptr<const RuleSeries> series = nullptr);

 private:
  friend class MetricsCollector;
  struct Impl;

  std::shared_ptr<Impl> impl_;
  std::shared_ptr<prometheus::Collectable> collector_;
  std::unique_ptr<MetricsExposer> exposer_;
};

}  // namespace sockgate::metrics
