// The check for rules that can never match.
#include <algorithm>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "rules/compiler.hpp"

namespace sockgate::rules {

namespace {

// True when `condition` is true for every label set for which all of `known_true` are true.
bool implied_by(const LabelCondition& condition, std::span<const LabelCondition> known_true) {
  using Kind = LabelCondition::Kind;
  return std::any_of(known_true.begin(), known_true.end(), [&](const LabelCondition& known) {
    if (known.key != condition.key) {
      return false;
    }
    switch (condition.kind) {
      case Kind::present:
        return known.kind == Kind::present || known.kind == Kind::equals;
      case Kind::equals:
        return known.kind == Kind::equals && known.value == condition.value;
      case Kind::not_equals:
        return (known.kind == Kind::not_equals && known.value == condition.value) ||
               (known.kind == Kind::equals && known.value != condition.value);
    }
    return false;
  });
}

// True when every call that `later` matches is also matched by `earlier`.
bool covers(const CompiledRule& earlier, const CompiledRule& later) {
  for (std::size_t slot = 0; slot < 4; ++slot) {
    if (later.shape.operation_protocol[slot] && !earlier.shape.operation_protocol[slot]) {
      return false;
    }
  }
  if (!earlier.shape.ports.contains(later.shape.ports) ||
      !earlier.shape.addresses.contains(later.shape.addresses)) {
    return false;
  }
  return std::all_of(
      earlier.conditions.begin(), earlier.conditions.end(),
      [&](const LabelCondition& condition) { return implied_by(condition, later.conditions); });
}

// Groups the rules by their first label condition, to find the earlier rules whose conditions
// can be implied by a later rule's. A rule without conditions can cover any later rule. A rule
// whose first condition is `label k=v` can only cover a later rule that requires `label k=v`
// too, and one whose first condition is `label k` or `label k!=v` only a later rule with some
// condition on k. Without this filter, policies whose rules differ only in labels (one rule per
// container id, say) would need a comparison for every pair of rules.
class ConditionFilter {
 public:
  explicit ConditionFilter(std::span<const CompiledRule> rules)
      : words_((rules.size() + 63) / 64), unconditioned_(words_, 0) {
    for (std::uint32_t rule = 0; rule < rules.size(); ++rule) {
      const auto& conditions = rules[rule].conditions;
      if (conditions.empty()) {
        unconditioned_[rule / 64] |= std::uint64_t{1} << (rule % 64);
      } else if (conditions.front().kind == LabelCondition::Kind::equals) {
        by_equals_[{conditions.front().key, conditions.front().value}].push_back(rule);
      } else {
        by_key_[conditions.front().key].push_back(rule);
      }
    }
  }

  // The rules that may cover `later`, as a bit set over all rules.
  std::vector<std::uint64_t> candidates(const CompiledRule& later) const {
    std::vector<std::uint64_t> mask = unconditioned_;
    const auto add = [&](const std::vector<std::uint32_t>* rules) {
      for (const std::uint32_t rule : rules != nullptr ? *rules : kNone) {
        mask[rule / 64] |= std::uint64_t{1} << (rule % 64);
      }
    };
    for (const auto& condition : later.conditions) {
      if (condition.kind == LabelCondition::Kind::equals) {
        add(find(by_equals_, std::pair{condition.key, condition.value}));
      }
      add(find(by_key_, condition.key));
    }
    return mask;
  }

 private:
  template <typename Map, typename Key>
  static const std::vector<std::uint32_t>* find(const Map& map, const Key& key) {
    const auto it = map.find(key);
    return it == map.end() ? nullptr : &it->second;
  }

  static inline const std::vector<std::uint32_t> kNone;
  std::size_t words_;
  std::vector<std::uint64_t> unconditioned_;
  std::map<std::pair<std::string, std::string>, std::vector<std::uint32_t>> by_equals_;
  std::map<std::string, std::vector<std::uint32_t>> by_key_;
};

std::optional<std::size_t> first_slot(const RuleShape& shape) {
  for (std::size_t slot = 0; slot < 4; ++slot) {
    if (shape.operation_protocol[slot]) {
      return slot;
    }
  }
  return std::nullopt;
}

}  // namespace

void report_unreachable_rules(const CompiledPolicy& policy,
                              std::span<const parser::Location> locations,
                              const parser::Sources& sources, parser::Diagnostics& diagnostics) {
  const auto rules = policy.compiled_rules();
  const auto infos = policy.rules();
  const ConditionFilter filter(rules);
  for (std::uint32_t later = 0; later < rules.size(); ++later) {
    const RuleShape& shape = rules[later].shape;
    const std::optional<std::size_t> slot = first_slot(shape);
    if (shape.addresses.empty() || shape.ports.empty() || !slot) {
      diagnostics.warning(locations[later], "rule '" + infos[later].name +
                                                "' matches no address: its '!' items exclude "
                                                "everything the others include");
      continue;
    }
    // A rule that covers this one also matches its first point. The index finds the earlier
    // rules that match that point, so only those get the full comparison.
    // TODO: when most earlier rules match that point, the comparisons grow with the square of
    // the rule count: `sockgate check` of 100,000 rules `to 10.0.0.0/8, !HOST` took 30 s.
    const Uint128 address = shape.addresses.intervals().front().low;
    const std::uint32_t port = shape.ports.intervals().front().low;
    const std::vector<std::uint64_t> candidates = filter.candidates(rules[later]);
    const auto visit = [&](std::uint32_t earlier) {
      if (!covers(rules[earlier], rules[later])) {
        return false;
      }
      diagnostics.warning(locations[later], "rule '" + infos[later].name +
                                                "' never matches: the earlier rule '" +
                                                infos[earlier].name + "' at " +
                                                sources.file_and_line(locations[earlier]) +
                                                " matches every call it would match");
      return true;
    };
    policy.index().for_each_match_before(address, port, *slot, later, candidates, visit);
  }
}

}  // namespace sockgate::rules
