// The check for rules that can never match.
#include <algorithm>

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
    const Uint128 address = shape.addresses.intervals().front().low;
    const std::uint32_t port = shape.ports.intervals().front().low;
    policy.index().for_each_match_before(address, port, *slot, later, [&](std::uint32_t earlier) {
      if (!covers(rules[earlier], rules[later])) {
        return false;
      }
      diagnostics.warning(locations[later], "rule '" + infos[later].name +
                                                "' never matches: the earlier rule '" +
                                                infos[earlier].name + "' at " +
                                                sources.file_and_line(locations[earlier]) +
                                                " matches every call it would match");
      return true;
    });
  }
}

}  // namespace sockgate::rules
