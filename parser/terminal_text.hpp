// Text from rule files made safe to print on a terminal.
//
// A rule file may contain any bytes: in comments, quoted label values, include paths, or where
// a syntax error is. A terminal acts on control characters (an escape sequence can retitle the
// window, clear the screen or move the cursor), so messages and source lines print these as
// `\xHH`, one escape per byte:
//   - C0 control characters other than tab, and DEL;
//   - C1 control characters, U+0080 to U+009F;
//   - the line and paragraph separators and the bidirectional formatting characters, U+2028 to
//     U+202E and U+2066 to U+2069, which reorder the text around them;
//   - every byte that is not part of valid UTF-8 (overlong forms and surrogates are invalid).
// Tabs and all other valid UTF-8 print as they are.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace sockgate::parser {

// One character of a text, or one byte that is not valid UTF-8.
struct TextUnit {
  std::size_t bytes = 1;
  // True when each byte prints as `\xHH`.
  bool escaped = false;
};

// Decodes the unit that starts at byte `at` of `text`. `at` must be less than text.size().
TextUnit next_text_unit(std::string_view text, std::size_t at) noexcept;

// Escapes the characters listed above in `text`, each byte as `\xHH`.
std::string escape_control_characters(std::string_view text);

}  // namespace sockgate::parser
