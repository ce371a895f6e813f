#include "parser/source.hpp"

namespace sockgate::parser {

std::uint32_t Sources::add(SourceFile file) {
  files_.push_back(std::move(file));
  return static_cast<std::uint32_t>(files_.size() - 1);
}

std::string_view Sources::line_text(const Location& location) const {
  if (location.file >= files_.size() || location.line == 0) {
    return {};
  }
  std::string_view text = files_[location.file].text;
  std::size_t start = 0;
  for (std::uint32_t line = 1; line < location.line; ++line) {
    const std::size_t newline = text.find('\n', start);
    if (newline == std::string_view::npos) {
      return {};
    }
    start = newline + 1;
  }
  std::size_t end = text.find('\n', start);
  if (end == std::string_view::npos) {
    end = text.size();
  }
  if (end > start && text[end - 1] == '\r') {
    --end;
  }
  return text.substr(start, end - start);
}

std::string Sources::describe(const Location& location) const {
  std::string result = location.file < files_.size() ? files_[location.file].name : "?";
  if (location.line == 0) {
    return result;
  }
  result += ':' + std::to_string(location.line);
  if (location.column != 0) {
    result += ':' + std::to_string(location.column);
  }
  return result;
}

std::string Sources::file_and_line(const Location& location) const {
  return describe(Location{location.file, location.line, 0});
}

}  // namespace sockgate::parser
