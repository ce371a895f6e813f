#include "rules/compiled_policy.hpp"

#include <algorithm>

namespace sockgate::rules {

bool LabelCondition::holds(const LabelSet& labels) const {
  const std::string* found = labels.find(key);
  switch (kind) {
    case Kind::equals:
      return found != nullptr && *found == value;
    case Kind::not_equals:
      return found == nullptr || *found != value;
    case Kind::present:
      return found != nullptr;
  }
  return false;
}

namespace {

std::vector<RuleShape> shapes_of(const std::vector<CompiledRule>& rules) {
  std::vector<RuleShape> shapes;
  shapes.reserve(rules.size());
  for (const auto& rule : rules) {
    shapes.push_back(rule.shape);
  }
  return shapes;
}

}  // namespace

CompiledPolicy::CompiledPolicy(std::vector<CompiledRule> rules, std::vector<RuleInfo> infos,
                               Action default_action, int default_error)
    : rules_(std::move(rules)),
      infos_(std::move(infos)),
      index_(shapes_of(rules_)),
      default_action_(default_action),
      default_error_(default_error) {}

Subject CompiledPolicy::subject(const LabelSet& labels) const {
  Subject subject;
  subject.rule_mask.assign(index_.words(), 0);
  for (std::size_t rule = 0; rule < rules_.size(); ++rule) {
    const auto& conditions = rules_[rule].conditions;
    const bool allowed =
        std::all_of(conditions.begin(), conditions.end(),
                    [&](const LabelCondition& condition) { return condition.holds(labels); });
    if (allowed) {
      subject.rule_mask[rule / 64] |= std::uint64_t{1} << (rule % 64);
    }
  }
  return subject;
}

Decision CompiledPolicy::decide(const Event& event, const Subject& subject) const noexcept {
  const std::optional<std::uint32_t> match = index_.first_match(event, subject.rule_mask);
  if (!match) {
    Decision decision;
    decision.action = default_action_;
    decision.error = default_error_;
    return decision;
  }
  const CompiledRule& rule = rules_[*match];
  Decision decision;
  decision.action = rule.action;
  decision.rule = *match;
  decision.error = rule.error;
  decision.publish = rule.publish;
  return decision;
}

}  // namespace sockgate::rules
