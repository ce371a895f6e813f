#include "metrics/rule_series.hpp"

#include <fmt/format.h>

#include <stdexcept>
#include <string_view>
#include <unordered_map>
#include <unordered_set>

#include "metrics/families.hpp"

namespace sockgate::metrics {
namespace {

using Slot = RuleSeries::Slot;
using SlotsByName = std::unordered_map<std::string_view, const Slot*>;

void validate_names(std::span<const RuleLabels> rules) {
  std::unordered_set<std::string_view> seen;
  for (const RuleLabels& rule : rules) {
    if (rule.name.empty()) {
      throw std::invalid_argument(
          "a rule has an empty metrics name; name it or give its FILE:LINE");
    }
    if (rule.name == kDefaultRuleName) {
      throw std::invalid_argument(
          fmt::format("rule name \"{}\" is reserved for the default action; rename the rule",
                      kDefaultRuleName));
    }
    if (!seen.insert(rule.name).second) {
      throw std::invalid_argument(
          fmt::format("rule name \"{}\" is used twice; rule names must be unique", rule.name));
    }
  }
}

Slot make_slot(const RuleLabels& labels, const SlotsByName& previous) {
  Slot slot{labels.name, labels.action, labels.matches_connect, labels.matches_bind, {}, {}};
  const auto found = previous.find(labels.name);
  const Slot* kept_rule = found == previous.end() ? nullptr : found->second;

  const bool same_action = kept_rule != nullptr && kept_rule->action == labels.action;
  slot.matches = same_action ? kept_rule->matches : std::make_shared<MatchCells>();

  if (labels.action != rules::Action::deny) {
    const bool has_traffic = kept_rule != nullptr && kept_rule->traffic != nullptr;
    slot.traffic = has_traffic ? kept_rule->traffic : std::make_shared<TrafficCells>();
  }
  return slot;
}

prometheus::ClientMetric make_metric(std::vector<prometheus::ClientMetric::Label> labels) {
  prometheus::ClientMetric metric;
  metric.label = std::move(labels);
  return metric;
}

prometheus::MetricFamily make_family(FamilyId id) {
  const FamilyInfo& info = family_info(id);
  return prometheus::MetricFamily{std::string(info.name), std::string(info.help), info.type, {}};
}

void add_matches(prometheus::MetricFamily& family, const Slot& slot) {
  const std::string action(to_label(slot.action));
  const auto add = [&](rules::Operation operation, const std::atomic<std::uint64_t>& cell) {
    auto metric = make_metric(
        {{"rule", slot.name}, {"action", action}, {"op", std::string(to_label(operation))}});
    metric.counter.value = static_cast<double>(cell.load(std::memory_order_relaxed));
    family.metric.push_back(std::move(metric));
  };
  if (slot.matches_connect) {
    add(rules::Operation::connect, slot.matches->connect);
  }
  if (slot.matches_bind) {
    add(rules::Operation::bind, slot.matches->bind);
  }
}

void add_traffic(prometheus::MetricFamily& bytes, prometheus::MetricFamily& open,
                 const Slot& slot) {
  const TrafficCells& cells = *slot.traffic;
  auto sent = make_metric({{"rule", slot.name}, {"direction", "sent"}});
  sent.counter.value = static_cast<double>(cells.sent.load(std::memory_order_relaxed));
  bytes.metric.push_back(std::move(sent));

  auto received = make_metric({{"rule", slot.name}, {"direction", "received"}});
  received.counter.value = static_cast<double>(cells.received.load(std::memory_order_relaxed));
  bytes.metric.push_back(std::move(received));

  auto sockets = make_metric({{"rule", slot.name}});
  sockets.gauge.value = static_cast<double>(cells.open_sockets.load(std::memory_order_relaxed));
  open.metric.push_back(std::move(sockets));
}

}  // namespace

void RuleSeries::count_decision(std::uint32_t rule, rules::Operation operation,
                                rules::Action applied) const noexcept {
  decisions_[static_cast<std::size_t>(applied)]->Increment();

  const Slot* matched = slot(rule);
  if (matched == nullptr) {
    return;
  }
  auto& cell =
      operation == rules::Operation::connect ? matched->matches->connect : matched->matches->bind;
  cell.fetch_add(1, std::memory_order_relaxed);
}

const RuleSeries::Slot* RuleSeries::slot(std::uint32_t rule) const noexcept {
  if (rule == rules::kDefaultRule) {
    return &slots_.back();
  }
  // The last slot is the default action, which only kDefaultRule reaches.
  if (rule + std::size_t{1} >= slots_.size()) {
    return nullptr;
  }
  return &slots_[rule];
}

RuleBook::RuleBook(std::array<prometheus::Counter*, 3> decisions, std::shared_ptr<const void> owner)
    : decisions_(decisions), decisions_owner_(std::move(owner)) {}

std::shared_ptr<const RuleSeries> RuleBook::bind(std::span<const RuleLabels> rules,
                                                 rules::Action default_action) {
  validate_names(rules);

  // The constructor is private to RuleBook, which std::make_shared cannot reach.
  std::shared_ptr<RuleSeries> next(new RuleSeries());
  next->decisions_ = decisions_;
  next->decisions_owner_ = decisions_owner_;
  next->slots_.reserve(rules.size() + 1);

  const std::lock_guard lock(mutex_);
  SlotsByName previous;
  if (current_ != nullptr) {
    for (const Slot& slot : current_->slots_) {
      previous.emplace(slot.name, &slot);
    }
  }
  for (const RuleLabels& labels : rules) {
    next->slots_.push_back(make_slot(labels, previous));
  }
  const RuleLabels default_labels{std::string(kDefaultRuleName), default_action, true, true};
  next->slots_.push_back(make_slot(default_labels, previous));

  std::unordered_set<const TrafficCells*> reused_traffic;
  for (const Slot& slot : next->slots_) {
    reused_traffic.insert(slot.traffic.get());
  }
  for (const auto& [name, slot] : previous) {
    if (slot->traffic != nullptr && !reused_traffic.contains(slot->traffic.get())) {
      slot->traffic->retired.store(true, std::memory_order_relaxed);
    }
  }
  current_ = next;
  return next;
}

std::shared_ptr<const RuleSeries> RuleBook::current() const {
  const std::lock_guard lock(mutex_);
  return current_;
}

std::vector<prometheus::MetricFamily> RuleBook::collect() const {
  auto matches = make_family(FamilyId::rule_matches);
  auto bytes = make_family(FamilyId::rule_bytes);
  auto open = make_family(FamilyId::rule_open_sockets);

  const auto series = current();
  if (series != nullptr) {
    for (const Slot& slot : series->slots()) {
      add_matches(matches, slot);
      if (slot.traffic != nullptr) {
        add_traffic(bytes, open, slot);
      }
    }
  }
  return {std::move(matches), std::move(bytes), std::move(open)};
}

}  // namespace sockgate::metrics
