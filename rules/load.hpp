// Loading a policy: rule files in, a compiled Policy and every diagnostic out.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "parser/diagnostics.hpp"
#include "parser/source.hpp"
#include "rules/policy.hpp"
#include "rules/publish.hpp"

namespace sockgate::rules {

struct LoadOptions {
  // Rule files in configured order; empty: the built-in policy.
  std::vector<std::string> files;
  // Each adds a `bypass bind` rule with `publish`, ahead of the files' rules.
  std::vector<PublishSpec> publish;
  // The configuration's default action; replaces any `default` of the files.
  std::optional<Action> default_action;
};

struct LoadResult {
  // Null when the load reported errors.
  std::shared_ptr<const Policy> policy;
  // Errors and warnings, in the order they were found.
  parser::Diagnostics diagnostics;
  // The loaded texts, for formatting the diagnostics.
  parser::Sources sources;
  // Origin of the default action: FILE:LINE, "configuration" or "built-in pass".
  std::string default_origin;

  bool ok() const noexcept { return policy != nullptr; }
  // Every diagnostic as `FILE:LINE:COL: error: MESSAGE`, the source line and a caret.
  std::string format_diagnostics() const;
};

// Parses, checks and compiles a policy. Failures, std::exception included, become diagnostics.
LoadResult load_policy(const LoadOptions& options);

// The same from text, named `name` in messages (for tests and generated policies).
LoadResult load_policy_text(const std::string& name, std::string text,
                            std::optional<Action> default_action = std::nullopt);

}  // namespace sockgate::rules
