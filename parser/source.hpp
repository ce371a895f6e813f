// Source files of one load and positions in them.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace sockgate::parser {

// A position in a loaded source. Lines and columns count from 1; the column counts bytes. A line
// of 0 stands for the whole file (for example a file that cannot be read).
struct Location {
  std::uint32_t file = 0;
  std::uint32_t line = 0;
  std::uint32_t column = 0;

  friend bool operator==(const Location&, const Location&) = default;
};

// One loaded text: a rule file, an included file, or generated text such as `--publish` rules.
struct SourceFile {
  // The path as the user gave it (or as an include resolved it); used in every message.
  std::string name;
  std::string text;
  // Location of the include statement that loaded this file; empty for a top-level file.
  std::optional<Location> included_from;
};

// The files of one load, addressed by Location::file.
class Sources {
 public:
  std::uint32_t add(SourceFile file);
  const SourceFile& file(std::uint32_t index) const { return files_.at(index); }
  std::size_t size() const noexcept { return files_.size(); }

  // The text of the location's line without its line break; empty when out of range.
  std::string_view line_text(const Location& location) const;
  // FILE:LINE:COL, or FILE:LINE when the column is 0, or FILE when the line is 0.
  std::string describe(const Location& location) const;
  // FILE:LINE, the form used to name rules and to cite a location in a message.
  std::string file_and_line(const Location& location) const;

 private:
  std::vector<SourceFile> files_;
  // Byte offset of the start of each line, per file, so a message finds its line directly.
  std::vector<std::vector<std::size_t>> line_starts_;
};

}  // namespace sockgate::parser
