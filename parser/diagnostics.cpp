#include "parser/diagnostics.hpp"

#include <utility>

#include "parser/terminal_text.hpp"

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
    out += escape_control_characters("in file included from " + sources.file_and_line(*from));
    out += '\n';
    file = from->file;
  }
}

// The caret line under the escaped source line. `column` counts bytes from 1. Each character
// before it takes one space, except that a tab stays a tab so the caret lines up in a terminal,
// and each escaped byte takes the four spaces of its `\xHH`.
// NOTE: a wide character (most CJK characters, many emoji) takes two terminal columns but gets
// one space, so a caret after one on the same line is one column too far left.
std::string caret_line(std::string_view source_line, std::uint32_t column) {
  const std::size_t caret_byte = column - 1;
  std::string caret;
  std::size_t at = 0;
  while (at < caret_byte && at < source_line.size()) {
    const TextUnit unit = next_text_unit(source_line, at);
    if (unit.escaped) {
      caret.append(4 * unit.bytes, ' ');
    } else {
      caret += source_line[at] == '\t' ? '\t' : ' ';
    }
    at += unit.bytes;
  }
  // A column past the end of the line points after its last character.
  if (at < caret_byte) {
    caret.append(caret_byte - at, ' ');
  }
  caret += '^';
  return caret;
}

}  // namespace

std::string format_diagnostic(const Diagnostic& diagnostic, const Sources& sources) {
  std::string out;
  append_include_chain(out, sources, diagnostic.location.file);

  // File names and messages may quote bytes of the rule file too.
  out += escape_control_characters(sources.describe(diagnostic.location));
  out += diagnostic.severity == Severity::error ? ": error: " : ": warning: ";
  out += escape_control_characters(diagnostic.message);
  out += '\n';
  if (diagnostic.location.line == 0) {
    return out;
  }

  const std::string_view line = sources.line_text(diagnostic.location);
  out += escape_control_characters(line);
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
