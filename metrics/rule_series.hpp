// Per-rule series: the counters of one compiled policy, resolved once when the policy is bound
// and then only incremented by rule index on the decision path.
//
// A rule's counters live in cells that every binding keeping the rule shares, so their values
// continue across a rebinding. Match cells are reused when the name and action stay the same.
// Traffic cells are reused when the name stays and the rule still counts traffic. Cells of
// dropped rules are released from the book and marked retired. Decisions in flight that still
// hold the old binding keep those cells alive and may increment them, but nothing exports them
// again, and a later rule of the same name starts from fresh cells.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/metric_family.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

#include "rules/event.hpp"

namespace sockgate::metrics {

// One rule as metrics label it: its name, its action and the operations it can match.
struct RuleLabels {
  // Unique within a policy, and never "default", which names the default action.
  std::string name;
  rules::Action action = rules::Action::pass;
  bool matches_connect = true;
  bool matches_bind = true;
};

// Match counters of one rule name with one action.
struct MatchCells {
  std::atomic<std::uint64_t> connect{0};
  std::atomic<std::uint64_t> bind{0};
};

// Byte and socket counts of one rule name.
struct TrafficCells {
  // Exported values; only ByteAccounting writes them.
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> received{0};
  std::atomic<std::int64_t> open_sockets{0};
  // Set when the book drops the rule; ByteAccounting then stops tracking its sockets.
  std::atomic<bool> retired{false};

  // Running totals behind `sent` and `received`, guarded by ByteAccounting's mutex: final
  // counts of closed sockets, and the latest counts of open ones.
  std::uint64_t closed_sent = 0;
  std::uint64_t closed_received = 0;
  std::uint64_t open_sent = 0;
  std::uint64_t open_received = 0;
};

// The series of one bound policy. Immutable after binding; safe to share between threads.
class RuleSeries {
 public:
  struct Slot {
    std::string name;
    rules::Action action = rules::Action::pass;
    bool matches_connect = true;
    bool matches_bind = true;
    std::shared_ptr<MatchCells> matches;
    // nullptr for deny, whose calls never make a socket.
    std::shared_ptr<TrafficCells> traffic;
  };

  // Counts one decision: a match of `rule` (an index into the bound rules, or
  // rules::kDefaultRule) for `operation`, and the action the core applied. Lock-free and
  // allocation-free. An index outside the bound rules counts only the decision.
  void count_decision(std::uint32_t rule, rules::Operation operation,
                      rules::Action applied) const noexcept;

  // The slot of a rule index or rules::kDefaultRule; nullptr when the index is out of range.
  const Slot* slot(std::uint32_t rule) const noexcept;
  // The bound rules in policy order, then the default action.
  std::span<const Slot> slots() const noexcept { return slots_; }

 private:
  friend class RuleBook;
  RuleSeries() = default;

  std::vector<Slot> slots_;
  std::array<prometheus::Counter*, 3> decisions_{};
  // Owner of the counters that decisions_ points into.
  std::shared_ptr<const void> decisions_owner_;
};

// The current binding and its export.
class RuleBook {
 public:
  // `decisions` are the sockgate_decisions_total counters indexed by rules::Action, owned by
  // `owner`, which every binding keeps alive.
  RuleBook(std::array<prometheus::Counter*, 3> decisions, std::shared_ptr<const void> owner);

  // Binds the rules of a compiled policy and makes the result current. Throws
  // std::invalid_argument when a name is empty, repeated or "default".
  std::shared_ptr<const RuleSeries> bind(std::span<const RuleLabels> rules,
                                         rules::Action default_action);
  std::shared_ptr<const RuleSeries> current() const;

  // The rule families of the current binding: matches, bytes and open sockets.
  std::vector<prometheus::MetricFamily> collect() const;

 private:
  std::array<prometheus::Counter*, 3> decisions_;
  std::shared_ptr<const void> decisions_owner_;
  mutable std::mutex mutex_;
  std::shared_ptr<const RuleSeries> current_;
};

}  // namespace sockgate::metrics
