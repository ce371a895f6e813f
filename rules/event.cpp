#include "rules/event.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "rules/policy.hpp"

namespace sockgate::rules {

std::string_view to_string(Operation operation) {
  return operation == Operation::connect ? "connect" : "bind";
}

std::string_view to_string(Protocol protocol) {
  return protocol == Protocol::tcp ? "tcp" : "udp";
}

std::string_view to_string(Action action) {
  switch (action) {
    case Action::pass:
      return "pass";
    case Action::bypass:
      return "bypass";
    case Action::deny:
      return "deny";
  }
  return "pass";
}

IpAddress IpAddress::from_v4(const in_addr& address) {
  IpAddress result;
  result.bytes[10] = 0xff;
  result.bytes[11] = 0xff;
  std::memcpy(result.bytes.data() + 12, &address.s_addr, 4);
  return result;
}

IpAddress IpAddress::from_v6(const in6_addr& address) {
  IpAddress result;
  std::memcpy(result.bytes.data(), address.s6_addr, 16);
  return result;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  // Longer text than the longest IPv6 form cannot be an address; this also bounds the copy.
  if (text.empty() || text.size() >= INET6_ADDRSTRLEN) {
    return std::nullopt;
  }
  char terminated[INET6_ADDRSTRLEN] = {};
  std::memcpy(terminated, text.data(), text.size());

  in_addr v4{};
  if (inet_pton(AF_INET, terminated, &v4) == 1) {
    return from_v4(v4);
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, terminated, &v6) == 1) {
    return from_v6(v6);
  }
  return std::nullopt;
}

bool IpAddress::is_v4() const noexcept {
  static constexpr std::array<std::uint8_t, 12> kMappedPrefix{0, 0, 0, 0, 0,    0,
                                                              0, 0, 0, 0, 0xff, 0xff};
  return std::equal(kMappedPrefix.begin(), kMappedPrefix.end(), bytes.begin());
}

in_addr IpAddress::to_v4() const noexcept {
  in_addr result{};
  std::memcpy(&result.s_addr, bytes.data() + 12, 4);
  return result;
}

in6_addr IpAddress::to_v6() const noexcept {
  in6_addr result{};
  std::memcpy(result.s6_addr, bytes.data(), 16);
  return result;
}

namespace {

// RFC 5952: lower-case hex, no leading zeros, the longest run of two or more zero groups (the
// first of equal runs) written as "::".
std::string format_v6(const std::array<std::uint8_t, 16>& bytes) {
  std::array<unsigned, 8> groups{};
  for (std::size_t i = 0; i < 8; ++i) {
    groups[i] = (static_cast<unsigned>(bytes[2 * i]) << 8U) | bytes[2 * i + 1];
  }
  std::size_t best_start = 8;
  std::size_t best_length = 1;
  for (std::size_t i = 0; i < 8;) {
    std::size_t j = i;
    while (j < 8 && groups[j] == 0) {
      ++j;
    }
    if (j - i > best_length) {
      best_start = i;
      best_length = j - i;
    }
    i = j == i ? i + 1 : j;
  }

  std::string text;
  static constexpr char kHex[] = "0123456789abcdef";
  for (std::size_t i = 0; i < 8; ++i) {
    if (i == best_start) {
      text += "::";
      i += best_length - 1;
      continue;
    }
    if (!text.empty() && text.back() != ':') {
      text += ':';
    }
    bool started = false;
    for (int shift = 12; shift >= 0; shift -= 4) {
      const unsigned digit = (groups[i] >> static_cast<unsigned>(shift)) & 0xfU;
      if (digit != 0 || started || shift == 0) {
        text += kHex[digit];
        started = true;
      }
    }
  }
  return text;
}

}  // namespace

std::string IpAddress::to_string() const {
  if (is_v4()) {
    return std::to_string(bytes[12]) + "." + std::to_string(bytes[13]) + "." +
           std::to_string(bytes[14]) + "." + std::to_string(bytes[15]);
  }
  return format_v6(bytes);
}

LabelSet::LabelSet(std::vector<std::pair<std::string, std::string>> pairs) {
  for (auto& [key, value] : pairs) {
    set(std::move(key), std::move(value));
  }
}

void LabelSet::set(std::string key, std::string value) {
  const auto it = std::lower_bound(pairs_.begin(), pairs_.end(), key,
                                   [](const std::pair<std::string, std::string>& pair,
                                      const std::string& wanted) { return pair.first < wanted; });
  if (it != pairs_.end() && it->first == key) {
    it->second = std::move(value);
    return;
  }
  pairs_.emplace(it, std::move(key), std::move(value));
}

const std::string* LabelSet::find(std::string_view key) const {
  const auto it = std::lower_bound(pairs_.begin(), pairs_.end(), key,
                                   [](const std::pair<std::string, std::string>& pair,
                                      std::string_view wanted) { return pair.first < wanted; });
  if (it != pairs_.end() && it->first == key) {
    return &it->second;
  }
  return nullptr;
}

}  // namespace sockgate::rules
