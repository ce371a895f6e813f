#include "parser/parser.hpp"

#include <array>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <system_error>
#include <vector>

#include "parser/actions.hpp"

namespace sockgate::parser {

namespace detail {

std::string statement_text(std::string_view matched) {
  const std::size_t line_end = matched.find_first_of("\r\n");
  std::string_view text = matched.substr(0, line_end);

  // A '#' starts a comment unless it is inside a quoted label value.
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '"') {
      quoted = !quoted;
    } else if (text[i] == '#' && !quoted) {
      text = text.substr(0, i);
      break;
    }
  }
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t')) {
    text.remove_suffix(1);
  }
  return std::string(text);
}

ast::AddressLiteral make_address_literal(std::string_view text, const Location& location) {
  ast::AddressLiteral literal;
  literal.location = location;
  literal.text = std::string(text);

  const std::size_t slash = text.find('/');
  const std::string_view address = text.substr(0, slash);
  if (const auto parsed = parse_address(address)) {
    literal.bytes = parsed->bytes;
    literal.is_v4 = parsed->is_v4;
  }
  if (slash != std::string_view::npos) {
    literal.prefix = parse_decimal(text.substr(slash + 1), UINT32_MAX).value_or(UINT32_MAX);
    literal.prefix_location = location;
    literal.prefix_location.column += static_cast<std::uint32_t>(slash + 1);
  }
  return literal;
}

}  // namespace detail

namespace {

namespace pegtl = tao::pegtl;
namespace fs = std::filesystem;

// The token at `byte`, for messages: "found 'deny'", "found the end of the line".
std::string describe_found(std::string_view text, std::size_t byte) {
  if (byte >= text.size()) {
    return "the end of the file";
  }
  if (text[byte] == '\n' || text[byte] == '\r') {
    return "the end of the line";
  }
  std::size_t end = byte;
  while (end < text.size() && end - byte < 24 && std::strchr(" \t\r\n,", text[end]) == nullptr) {
    ++end;
  }
  if (end == byte) {
    end = byte + 1;
  }
  // End on a character boundary: a cut UTF-8 character would print as escaped bytes.
  while (end < text.size() && (static_cast<unsigned char>(text[end]) & 0xc0U) == 0x80U) {
    ++end;
  }
  return "'" + std::string(text.substr(byte, end - byte)) + "'";
}

void report_syntax_error(const pegtl::parse_error& error, std::string_view text,
                         detail::ParseState& state) {
  const auto& positions = error.positions();
  Location location{state.file, 1, 1};
  std::size_t byte = 0;
  if (!positions.empty()) {
    location.line = static_cast<std::uint32_t>(positions.front().line);
    location.column = static_cast<std::uint32_t>(positions.front().column);
    byte = positions.front().byte;
  }
  state.diagnostics->error(location,
                           std::string(error.message()) + ", found " + describe_found(text, byte));
}

// Matches the text statement by statement; after a syntax error skips to the next line.
ast::Unit parse_unit(std::uint32_t file, const std::string& text, const std::string& name,
                     Diagnostics& diagnostics) {
  ast::Unit unit;
  unit.source = file;
  detail::ParseState state;
  state.file = file;
  state.unit = &unit;
  state.diagnostics = &diagnostics;

  pegtl::memory_input<pegtl::tracking_mode::eager, pegtl::eol::lf_crlf> in(text.data(), text.size(),
                                                                           name);
  while (!in.empty()) {
    state.reset_statement();
    const auto start = in.iterator();
    try {
      if (pegtl::parse<grammar::statement_line, detail::action, grammar::control>(in, state)) {
        continue;
      }
    } catch (const pegtl::parse_error& error) {
      report_syntax_error(error, text, state);
    }
    in.iterator() = start;
    pegtl::parse<grammar::recovery>(in);
    if (in.iterator().data == start.data) {
      in.bump(1);  // A lone '\r' is neither a line end nor line content.
    }
  }
  return unit;
}

struct LoadContext {
  ast::Program& program;
  Diagnostics& diagnostics;
  // Canonical paths of the files being loaded, outermost first, to detect include cycles.
  std::vector<fs::path> stack;
};

// Reads a whole regular file; on failure returns std::nullopt and a reason for the message.
// Devices, pipes and directories are rejected: reading /dev/zero or a FIFO would never end.
std::optional<std::string> read_file(const fs::path& path, std::string& reason) {
  std::error_code status_error;
  const fs::file_status status = fs::status(path, status_error);
  if (fs::is_directory(status)) {
    reason = "it is a directory";
    return std::nullopt;
  }
  if (fs::exists(status) && !fs::is_regular_file(status)) {
    reason = "it is not a regular file";
    return std::nullopt;
  }
  std::ifstream stream(path, std::ios::binary);
  if (!stream) {
    reason = std::generic_category().message(errno);
    return std::nullopt;
  }

  // Read in chunks and stop past the limit, so a file that grows while it is read is caught.
  std::string contents;
  std::array<char, 65536> chunk{};
  while (stream.read(chunk.data(), chunk.size()) || stream.gcount() > 0) {
    contents.append(chunk.data(), static_cast<std::size_t>(stream.gcount()));
    if (contents.size() > kMaxFileBytes) {
      reason = "it is larger than " + std::to_string(kMaxFileBytes >> 20U) + " MiB";
      return std::nullopt;
    }
  }
  if (stream.bad()) {
    reason = std::generic_category().message(errno);
    return std::nullopt;
  }
  return contents;
}

std::uint32_t load_text(LoadContext& context, SourceFile source, const fs::path& base_dir);

// Loads the file of one include statement of `unit_index`.
void load_include(LoadContext& context, std::uint32_t unit_index, std::size_t statement_index,
                  const fs::path& base_dir) {
  auto& include =
      std::get<ast::Include>(context.program.units[unit_index].statements[statement_index]);
  const Location at = include.location;
  const Location path_at = include.path_location;
  const fs::path path =
      fs::path(include.path).is_absolute() ? fs::path(include.path) : base_dir / include.path;
  auto& diagnostics = context.diagnostics;

  if (include.path.empty()) {
    diagnostics.error(path_at, "the include path is empty");
    return;
  }
  if (context.stack.size() >= kMaxIncludeDepth) {
    diagnostics.error(path_at, "includes nest deeper than " + std::to_string(kMaxIncludeDepth) +
                                   " files at '" + path.string() + "'");
    return;
  }

  std::error_code canonical_error;
  const fs::path canonical = fs::weakly_canonical(path, canonical_error);
  for (const auto& open : context.stack) {
    if (!canonical_error && open == canonical) {
      diagnostics.error(path_at, "include cycle: '" + path.string() +
                                     "' is already being loaded by an enclosing include");
      return;
    }
  }

  std::string reason;
  auto text = read_file(path, reason);
  if (!text) {
    diagnostics.error(path_at, "cannot read included file '" + path.string() + "': " + reason);
    return;
  }

  context.stack.push_back(canonical_error ? path : canonical);
  const std::uint32_t unit =
      load_text(context, SourceFile{path.string(), std::move(*text), at}, path.parent_path());
  context.stack.pop_back();
  std::get<ast::Include>(context.program.units[unit_index].statements[statement_index]).unit = unit;
}

// Parses one source into a new unit, then loads the files it includes.
std::uint32_t load_text(LoadContext& context, SourceFile source, const fs::path& base_dir) {
  const std::string name = source.name;
  const std::uint32_t file = context.program.sources.add(std::move(source));
  ast::Unit unit =
      parse_unit(file, context.program.sources.file(file).text, name, context.diagnostics);
  context.program.units.push_back(std::move(unit));
  const auto unit_index = static_cast<std::uint32_t>(context.program.units.size() - 1);

  // Units are addressed by index: loading an include appends to program.units.
  const std::size_t count = context.program.units[unit_index].statements.size();
  for (std::size_t i = 0; i < count; ++i) {
    if (std::holds_alternative<ast::Include>(context.program.units[unit_index].statements[i])) {
      load_include(context, unit_index, i, base_dir);
    }
  }
  return unit_index;
}

void report_internal_error(ast::Program& program, Diagnostics& diagnostics, const std::string& name,
                           const char* what) {
  const std::uint32_t file = program.sources.add(SourceFile{name, {}, std::nullopt});
  diagnostics.error(Location{file, 0, 0},
                    std::string("internal error while reading the rules: ") + what);
}

}  // namespace

std::optional<std::uint32_t> parse_file(ast::Program& program, Diagnostics& diagnostics,
                                        const std::string& path) {
  try {
    std::string reason;
    auto text = read_file(path, reason);
    if (!text) {
      const std::uint32_t file = program.sources.add(SourceFile{path, {}, std::nullopt});
      diagnostics.error(Location{file, 0, 0}, "cannot read rule file: " + reason);
      return std::nullopt;
    }
    LoadContext context{program, diagnostics, {}};
    std::error_code canonical_error;
    const fs::path canonical = fs::weakly_canonical(path, canonical_error);
    context.stack.push_back(canonical_error ? fs::path(path) : canonical);
    const std::uint32_t unit = load_text(context, SourceFile{path, std::move(*text), std::nullopt},
                                         fs::path(path).parent_path());
    program.roots.push_back(unit);
    return unit;
  } catch (const std::exception& error) {
    report_internal_error(program, diagnostics, path, error.what());
    return std::nullopt;
  }
}

std::optional<std::uint32_t> parse_text(ast::Program& program, Diagnostics& diagnostics,
                                        const std::string& name, std::string text) {
  try {
    LoadContext context{program, diagnostics, {}};
    const std::uint32_t unit =
        load_text(context, SourceFile{name, std::move(text), std::nullopt}, ".");
    program.roots.push_back(unit);
    return unit;
  } catch (const std::exception& error) {
    report_internal_error(program, diagnostics, name, error.what());
    return std::nullopt;
  }
}

}  // namespace sockgate::parser
