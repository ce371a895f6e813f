// parser/: reads rule files into a syntax tree and checks what they mean.
//
// In: paths of rule files (or generated text), in the order the configuration lists them. Out: an
// ast::Program (every file, included ones too, with a Location on every node) and Diagnostics
// (every error and warning of the run, each with file, line and column). This module does not
// depend on the compiled policy: rules/ turns a Program without errors into one.
//
// Flow: parse_file/parse_text match the grammar (grammar.hpp) statement by statement. A syntax
// error is recorded and parsing resumes on the next line, so one run reports every error. The
// files that a file includes are loaded after that file is parsed. check_program (checker.hpp)
// then runs the meaning checks that need the whole program: names, sets, values, clauses.
//
// No exception leaves this module: PEGTL, file system and allocation failures become
// diagnostics.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "parser/ast.hpp"
#include "parser/diagnostics.hpp"

namespace sockgate::parser {

// Include statements nest at most this deep; deeper chains are reported as errors.
inline constexpr std::size_t kMaxIncludeDepth = 32;
// Rule files larger than this are rejected unread.
inline constexpr std::uintmax_t kMaxFileBytes = 64U << 20U;

// Parses the rule file at `path`, and the files it includes, as the next top-level file of
// `program`. Returns the unit index, or std::nullopt when the file cannot be read (diagnosed).
std::optional<std::uint32_t> parse_file(ast::Program& program, Diagnostics& diagnostics,
                                        const std::string& path);

// Parses `text` as the next top-level file of `program`, named `name` in messages. Relative
// include paths resolve against the current directory. Returns the unit index, or std::nullopt
// after an internal error (diagnosed).
std::optional<std::uint32_t> parse_text(ast::Program& program, Diagnostics& diagnostics,
                                        const std::string& name, std::string text);

}  // namespace sockgate::parser
