// Helpers that split the Prometheus text output into lines, for exact-line assertions.
#pragma once

#include <algorithm>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

namespace sockgate::metrics::testing {

inline std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream stream(text);
  for (std::string line; std::getline(stream, line);) {
    lines.push_back(line);
  }
  return lines;
}

inline bool has_line(const std::string& text, std::string_view line) {
  const auto lines = split_lines(text);
  return std::find(lines.begin(), lines.end(), line) != lines.end();
}

// Series lines (no comments) whose text starts with `prefix`, in output order.
inline std::vector<std::string> series_lines(const std::string& text, std::string_view prefix) {
  std::vector<std::string> found;
  for (const auto& line : split_lines(text)) {
    if (!line.starts_with('#') && line.starts_with(prefix)) {
      found.push_back(line);
    }
  }
  return found;
}

}  // namespace sockgate::metrics::testing
