// Helpers shared by the parser tests.
#pragma once

#include <string>
#include <vector>

#include "parser/checker.hpp"
#include "parser/parser.hpp"

namespace sockgate::parser::testing {

struct Parsed {
  ast::Program program;
  Diagnostics diagnostics;

  const ast::Unit& unit() const { return program.units.at(0); }
  template <typename T>
  const T& statement(std::size_t index) const {
    return std::get<T>(unit().statements.at(index));
  }
};

// Parses `text` as test.rules; with `check`, runs the meaning check too.
inline Parsed parse(const std::string& text, bool check = true) {
  Parsed parsed;
  parse_text(parsed.program, parsed.diagnostics, "test.rules", text);
  if (check) {
    check_program(parsed.program, parsed.diagnostics);
  }
  return parsed;
}

// Each diagnostic as "LINE:COL: error: MESSAGE" (the file is always test.rules here).
inline std::vector<std::string> messages(const Parsed& parsed) {
  std::vector<std::string> result;
  for (const auto& diagnostic : parsed.diagnostics.all()) {
    result.push_back(std::to_string(diagnostic.location.line) + ":" +
                     std::to_string(diagnostic.location.column) +
                     (diagnostic.severity == Severity::error ? ": error: " : ": warning: ") +
                     diagnostic.message);
  }
  return result;
}

}  // namespace sockgate::parser::testing
