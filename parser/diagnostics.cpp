#include "parser/diagnostics.hpp"

#include <utility>

namespace sockgate::parser {

void Diagnostics::error(const Location& location, std::string message) {
  items_.push_back(Diagnostic{Severity::error, location, std::move(message)});
  ++errors_;
}

void Diagnostics::warning(const Location& location, std::string message) {
  items_.push_back(Diagnostic{Severity::warning, location, std::move(message)});
}

namespace {

void append_include_chain(std::string& out, const Sources& sources, std::uint32_t file) {
  // A file included by itself never gets this far (the loader rejects include cycles), but the
  // bound keeps a corrupt chain from looping.
  for (std::size_t depth = 0; file < sources.size() && depth < sources.size(); ++depth) {
    const auto& from = sources.file(file).included_from;
    if (!from) {
      return;
    }
    out += "in file included from " + sources.file_and_line(*from) + '\n';
    file = from->file;
  }
}

// The caret line keeps the tabs of the source line so the caret lines up in a terminal.
std::string caret_line(std::string_view source_line, std::uint32_t column) {
  std::string caret;
  for (std::uint32_t i = 1; i < column; ++i) {
    const std::size_t index = i - 1;
    caret += index < source_line.size() && source_line[index] == '\t' ? '\t' : ' ';
  }
  caret += '^';
  return caret;
}

}  // namespace

std::string format_diagnostic(const Diagnostic& diagnostic, const Sources& sources) {
  std::string out;
  append_include_chain(out, sources, diagnostic.location.file);

  out += sources.describe(diagnostic.location);
  out += diagnostic.severity == Severity::error ? ": error: " : ": warning: ";
  out += diagnostic.message;
  out += '\n';
  if (diagnostic.location.line == 0) {
    return out;
  }

  const std::string_view line = sources.line_text(diagnostic.location);
  out += line;
  out += '\n';
  if (diagnostic.location.column != 0) {
    out += caret_line(line, diagnostic.location.column);
    out += '\n';
  }
  return out;
}

std::string format_diagnostics(const Diagnostics& diagnostics, const Sources& sources) {
  std::string out;
  for (const auto& diagnostic : diagnostics.all()) {
    out += format_diagnostic(diagnostic, sources);
  }
  return out;
}

}  // namespace sockgate::parser
