// The meaning check after parsing, and the program in first-match order.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "parser/ast.hpp"
#include "parser/diagnostics.hpp"

namespace sockgate::parser {

// Sets that contain sets nest at most this deep; deeper nesting is reported as an error.
inline constexpr std::size_t kMaxSetDepth = 32;

// A rule, or the default of a scoped file (a catch-all for the containers in scope), with the
// scopes that limit it: its own file's and those of the files that include it, outermost first.
struct OrderedEntry {
  const ast::Rule* rule = nullptr;
  const ast::Default* scoped_default = nullptr;
  std::vector<const ast::Scope*> scopes;
  // The unit (file) the statement is in.
  std::uint32_t unit = 0;
};

// A program in the order the matcher evaluates it.
struct PolicyOutline {
  // Rules and scoped defaults in first-match order: top-level files in order, statements in file
  // order, an included file's statements at the position of its include, and a scoped file's
  // default after everything else of that file.
  std::vector<OrderedEntry> entries;
  // The first default of an unscoped file; nullptr when there is none.
  const ast::Default* default_statement = nullptr;
  // The first default of each unscoped file, in order; more than one is an error.
  std::vector<const ast::Default*> unscoped_defaults;
  // Every set of the program by name; the first definition wins.
  std::map<std::string, const ast::Set*, std::less<>> sets;
};

PolicyOutline outline_program(const ast::Program& program);

struct OperationSet {
  bool connect = true;
  bool bind = true;
};

// The operations a rule applies to: those written, else the one its `to` (connect), `on` (bind)
// or `publish` (bind) clause implies, else both.
OperationSet effective_operations(const ast::Rule& rule);

// Returns the name of an ordered entry: the written rule name, or FILE:LINE with the base name
// of the file for unnamed rules and scoped defaults.
std::string entry_name(const ast::Program& program, const OrderedEntry& entry);

// Reports every meaning error and warning of a parsed program. It checks sets (unknown,
// duplicate, empty, self-referencing), rule names, defaults and scopes, addresses and prefixes,
// `!any`, ports and ranges, errno names, and clauses that do not fit the action or operation.
// The compiler finds shadowed rules, because that needs the resolved address sets.
void check_program(const ast::Program& program, Diagnostics& diagnostics);

}  // namespace sockgate::parser
