// Errors and warnings found while loading rules, and their text form.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "parser/source.hpp"

namespace sockgate::parser {

enum class Severity { error, warning };

struct Diagnostic {
  Severity severity = Severity::error;
  Location location;
  std::string message;
};

// All diagnostics of one load, in the order they were found.
class Diagnostics {
 public:
  void error(const Location& location, std::string message);
  void warning(const Location& location, std::string message);

  const std::vector<Diagnostic>& all() const noexcept { return items_; }
  std::size_t error_count() const noexcept { return errors_; }
  std::size_t warning_count() const noexcept { return items_.size() - errors_; }
  bool has_errors() const noexcept { return errors_ != 0; }

 private:
  std::vector<Diagnostic> items_;
  std::size_t errors_ = 0;
};

// Formats one diagnostic as the compilers do:
//
//   in file included from main.rules:3
//   extra.rules:5:12: error: unknown set 'lan'
//   rule x: pass connect to @lan
//                           ^
//
// The include chain comes first, innermost include first. Without a line (a file that cannot be
// read) only the first line is written. The result ends with a newline.
std::string format_diagnostic(const Diagnostic& diagnostic, const Sources& sources);

// Formats every diagnostic, in order.
std::string format_diagnostics(const Diagnostics& diagnostics, const Sources& sources);

}  // namespace sockgate::parser
