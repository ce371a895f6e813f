#include "parser/terminal_text.hpp"

#include <cstdint>

namespace sockgate::parser {

namespace {

bool is_escaped_code_point(std::uint32_t code) noexcept {
  const bool c1_control = code >= 0x80 && code <= 0x9f;
  const bool separator_or_embedding = code >= 0x2028 && code <= 0x202e;
  const bool isolate = code >= 0x2066 && code <= 0x2069;
  return c1_control || separator_or_embedding || isolate;
}

}  // namespace

TextUnit next_text_unit(std::string_view text, std::size_t at) noexcept {
  const auto lead = static_cast<unsigned char>(text[at]);
  if (lead < 0x80) {
    return {1, (lead < 0x20 && lead != '\t') || lead == 0x7f};
  }

  std::size_t length = 0;
  std::uint32_t code = 0;
  std::uint32_t smallest = 0;
  if ((lead & 0xe0U) == 0xc0U) {
    length = 2;
    code = lead & 0x1fU;
    smallest = 0x80;
  } else if ((lead & 0xf0U) == 0xe0U) {
    length = 3;
    code = lead & 0x0fU;
    smallest = 0x800;
  } else if ((lead & 0xf8U) == 0xf0U) {
    length = 4;
    code = lead & 0x07U;
    smallest = 0x10000;
  } else {
    return {1, true};
  }
  if (text.size() - at < length) {
    return {1, true};
  }
  for (std::size_t i = 1; i < length; ++i) {
    const auto next = static_cast<unsigned char>(text[at + i]);
    if ((next & 0xc0U) != 0x80U) {
      return {1, true};
    }
    code = (code << 6U) | (next & 0x3fU);
  }

  // Overlong forms, surrogates and values past U+10FFFF are not valid UTF-8.
  if (code < smallest || code > 0x10ffff || (code >= 0xd800 && code <= 0xdfff)) {
    return {1, true};
  }
  return {length, is_escaped_code_point(code)};
}

std::string escape_control_characters(std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string escaped;
  escaped.reserve(text.size());
  for (std::size_t at = 0; at < text.size();) {
    const TextUnit unit = next_text_unit(text, at);
    if (!unit.escaped) {
      escaped.append(text.substr(at, unit.bytes));
    } else {
      for (std::size_t i = at; i < at + unit.bytes; ++i) {
        const auto byte = static_cast<unsigned char>(text[i]);
        escaped += "\\x";
        escaped += kHex[byte >> 4U];
        escaped += kHex[byte & 0x0fU];
      }
    }
    at += unit.bytes;
  }
  return escaped;
}

}  // namespace sockgate::parser
