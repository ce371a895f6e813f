#include "parser/address.hpp"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>
#include <string>

namespace sockgate::parser {

std::optional<ParsedAddress> parse_address(std::string_view text) {
  // inet_pton needs a terminated string; anything longer than the longest IPv6 text is invalid.
  if (text.empty() || text.size() > INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  const std::string terminated(text);
  ParsedAddress result;

  in_addr v4{};
  if (inet_pton(AF_INET, terminated.c_str(), &v4) == 1) {
    result.bytes[10] = 0xff;
    result.bytes[11] = 0xff;
    std::memcpy(result.bytes.data() + 12, &v4, 4);
    result.is_v4 = true;
    return result;
  }

  in6_addr v6{};
  if (inet_pton(AF_INET6, terminated.c_str(), &v6) == 1) {
    std::memcpy(result.bytes.data(), &v6, 16);
    return result;
  }
  return std::nullopt;
}

std::optional<std::uint32_t> parse_decimal(std::string_view digits, std::uint32_t max) {
  std::uint32_t value = 0;
  const char* end = digits.data() + digits.size();
  const auto [ptr, error] = std::from_chars(digits.data(), end, value);
  if (digits.empty() || error != std::errc() || ptr != end || value > max) {
    return std::nullopt;
  }
  return value;
}

}  // namespace sockgate::parser

namespace sockgate::parser {

std::string format_address(const ParsedAddress& address) {
  char buffer[INET6_ADDRSTRLEN] = {};
  if (address.is_v4) {
    inet_ntop(AF_INET, address.bytes.data() + 12, buffer, sizeof buffer);
  } else {
    inet_ntop(AF_INET6, address.bytes.data(), buffer, sizeof buffer);
  }
  return buffer;
}

ParsedAddress mask_address(const ParsedAddress& address, std::uint32_t prefix) {
  ParsedAddress masked = address;
  const std::uint32_t first_bit = address.is_v4 ? 96 : 0;
  for (std::uint32_t bit = first_bit + prefix; bit < 128; ++bit) {
    masked.bytes[bit / 8] &= static_cast<std::uint8_t>(~(0x80U >> (bit % 8)));
  }
  return masked;
}

}  // namespace sockgate::parser
