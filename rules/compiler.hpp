// Compiles a checked syntax tree into a CompiledPolicy.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "parser/ast.hpp"
#include "parser/diagnostics.hpp"
#include "rules/compiled_policy.hpp"

namespace sockgate::rules {

struct CompileOutput {
  std::shared_ptr<const CompiledPolicy> policy;
  // FILE:LINE of the default statement in force, "configuration" or "built-in pass".
  std::string default_origin;
};

// Compiles `program`, which must have passed parser::check_program without errors. Adds a
// warning to `diagnostics` for each rule that can never match (an earlier rule matches every call
// it would, or its addresses cancel out). `default_override` replaces the files' default.
CompileOutput compile_program(const parser::ast::Program& program,
                              std::optional<Action> default_override,
                              parser::Diagnostics& diagnostics);

// Warns about each rule that can never match. Exposed for tests; compile_program calls it.
void report_unreachable_rules(const CompiledPolicy& policy,
                              std::span<const parser::Location> locations,
                              const parser::Sources& sources, parser::Diagnostics& diagnostics);

}  // namespace sockgate::rules
