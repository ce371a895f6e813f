// The Policy interface: the only way the switching core asks for a decision.
//
// A policy is immutable once built and shared between the notification loops; reload builds a
// new one beside it (see PolicyHandle). Label conditions and scopes depend only on a container's
// labels, so they are evaluated once per container and policy (Policy::subject) and the per-call
// decision works on plain numbers, without allocating.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "rules/event.hpp"

namespace sockgate::rules {

// A container's labels (`--label k=v`, OCI annotations, and `id`), sorted by key, keys unique.
class LabelSet {
 public:
  LabelSet() = default;
  // Later pairs with the same key replace earlier ones.
  explicit LabelSet(std::vector<std::pair<std::string, std::string>> pairs);

  void set(std::string key, std::string value);
  // nullptr when the key is absent.
  const std::string* find(std::string_view key) const;
  const std::vector<std::pair<std::string, std::string>>& pairs() const { return pairs_; }

 private:
  std::vector<std::pair<std::string, std::string>> pairs_;
};

// One rule as reported to metrics, `status` and `check --explain`.
struct RuleInfo {
  // Metrics label; FILE:LINE for an unnamed rule. Unique within a policy.
  std::string name;
  Action action = Action::pass;
  bool matches_connect = true;
  bool matches_bind = true;
  // FILE:LINE of the rule.
  std::string location;
  // The rule's source text on one line, as written.
  std::string text;
};

// A container as one policy sees it: the rules whose scope and label conditions hold for the
// container's labels, as a bit set indexed like Policy::rules().
struct Subject {
  std::vector<std::uint64_t> rule_mask;

  bool allows(std::uint32_t rule) const noexcept {
    return (rule_mask[rule / 64] >> (rule % 64)) & 1U;
  }
};

class Policy {
 public:
  virtual ~Policy() = default;

  // Evaluates scopes and label conditions for one container. Allocates; call it when a
  // container attaches or the policy changes, never per call.
  virtual Subject subject(const LabelSet& labels) const = 0;
  // Decides one call. First match wins, then the default. Must not allocate or block.
  virtual Decision decide(const Event& event, const Subject& subject) const noexcept = 0;
  virtual std::span<const RuleInfo> rules() const noexcept = 0;
  virtual Action default_action() const noexcept = 0;
};

}  // namespace sockgate::rules
