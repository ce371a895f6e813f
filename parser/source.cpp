#include "parser/source.hpp"

#include <algorithm>

namespace sockgate::parser {

std::uint32_t Sources::add(SourceFile file) {
  std::vector<std::size_t> starts{0};
  for (std::size_t i = 0; i < file.text.size(); ++i) {
    if (file.text[i] == '\n') {
      starts.push_back(i + 1);
    }
  }
  line_starts_.push_back(std::move(starts));
  files_.push_back(std::move(file));
  return static_cast<std::uint32_t>(files_.size() - 1);
}

std::string_view Sources::line_text(const Location& location) const {
  if (location.file >= files_.size() || location.line == 0 ||
      location.line > line_starts_[location.file].size()) {
    return {};
  }
  const std::string_view text = files_[location.file].text;
  const std::size_t start = line_starts_[location.file][location.line - 1];
  std::size_t end = std::min(text.find('\n', start), text.size());
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
