// The compiled, immutable policy that implements rules::Policy.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "rules/policy.hpp"
#include "rules/rule_index.hpp"

namespace sockgate::rules {

// A label condition of a rule or of a scope that limits it.
struct LabelCondition {
  enum class Kind : std::uint8_t { equals, not_equals, present };

  Kind kind = Kind::present;
  std::string key;
  std::string value;

  // Evaluates the condition. `label k=v` is true when k is present with value v, and
  // `label k!=v` when k is absent or has another value. `label k` is true when k is present.
  bool holds(const LabelSet& labels) const;
  friend bool operator==(const LabelCondition&, const LabelCondition&) = default;
};

// Everything the matcher and the shadow check need about one rule.
struct CompiledRule {
  RuleShape shape;
  // Scope conditions first, then the rule's own; all must hold.
  std::vector<LabelCondition> conditions;
  Action action = Action::pass;
  int error = 0;
  std::optional<Publish> publish;
};

class CompiledPolicy final : public Policy {
 public:
  CompiledPolicy(std::vector<CompiledRule> rules, std::vector<RuleInfo> infos,
                 Action default_action, int default_error);

  Subject subject(const LabelSet& labels) const override;
  Decision decide(const Event& event, const Subject& subject) const noexcept override;
  std::span<const RuleInfo> rules() const noexcept override { return infos_; }
  Action default_action() const noexcept override { return default_action_; }

  std::span<const CompiledRule> compiled_rules() const noexcept { return rules_; }
  const RuleIndex& index() const noexcept { return index_; }

 private:
  std::vector<CompiledRule> rules_;
  std::vector<RuleInfo> infos_;
  RuleIndex index_;
  Action default_action_;
  int default_error_;
};

}  // namespace sockgate::rules
