// Address text as the rule language writes it.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace sockgate::parser {

struct ParsedAddress {
  // Network byte order; IPv4 is stored IPv4-mapped (::ffff:a.b.c.d).
  std::array<std::uint8_t, 16> bytes{};
  bool is_v4 = false;
};

// Parses dotted-quad IPv4 or RFC 4291 IPv6 text (no zone, no brackets).
std::optional<ParsedAddress> parse_address(std::string_view text);

// Parses decimal digits; std::nullopt when empty, not all digits, or above `max`.
std::optional<std::uint32_t> parse_decimal(std::string_view digits, std::uint32_t max);

}  // namespace sockgate::parser

namespace sockgate::parser {

// Dotted form for IPv4, inet_ntop's form for IPv6.
std::string format_address(const ParsedAddress& address);

// Clears the bits after the first `prefix` bits of the written family. `prefix` is at most 32
// for IPv4 and 128 for IPv6.
ParsedAddress mask_address(const ParsedAddress& address, std::uint32_t prefix);

}  // namespace sockgate::parser
