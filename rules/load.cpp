#include "rules/load.hpp"

#include "parser/checker.hpp"
#include "parser/parser.hpp"
#include "rules/compiler.hpp"

namespace sockgate::rules {

std::string LoadResult::format_diagnostics() const {
  return parser::format_diagnostics(diagnostics, sources);
}

namespace {

LoadResult finish_load(parser::ast::Program& program, parser::Diagnostics& diagnostics,
                       std::optional<Action> default_action) {
  LoadResult result;
  try {
    // The meaning check runs after syntax errors too, so one run reports both kinds.
    parser::check_program(program, diagnostics);
    if (!diagnostics.has_errors()) {
      CompileOutput output = compile_program(program, default_action, diagnostics);
      result.policy = std::move(output.policy);
      result.default_origin = std::move(output.default_origin);
    }
  } catch (const std::exception& error) {
    // Allocation failures and library errors end the load like any other error.
    result.policy.reset();
    diagnostics.error(parser::Location{}, std::string("internal error while compiling the "
                                                      "rules: ") +
                                              error.what());
  }
  result.diagnostics = std::move(diagnostics);
  result.sources = std::move(program.sources);
  return result;
}

}  // namespace

LoadResult load_policy(const LoadOptions& options) {
  parser::ast::Program program;
  parser::Diagnostics diagnostics;
  if (options.files.empty()) {
    parser::parse_text(program, diagnostics, "<built-in>", builtin_policy_text(options.publish));
  } else {
    if (!options.publish.empty()) {
      parser::parse_text(program, diagnostics, "<--publish>", publish_rules_text(options.publish));
    }
    for (const auto& file : options.files) {
      parser::parse_file(program, diagnostics, file);
    }
  }
  return finish_load(program, diagnostics, options.default_action);
}

LoadResult load_policy_text(const std::string& name, std::string text,
                            std::optional<Action> default_action) {
  parser::ast::Program program;
  parser::Diagnostics diagnostics;
  parser::parse_text(program, diagnostics, name, std::move(text));
  return finish_load(program, diagnostics, default_action);
}

}  // namespace sockgate::rules
