// `--publish` flags and the built-in policy, both written as rule-language text.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

#include "rules/event.hpp"

namespace sockgate::rules {

// One `--publish [HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/tcp|/udp]` flag: a bind of
// CONTAINER_PORT inside the container listens on HOST_PORT (and HOST_ADDRESS) of the host.
struct PublishSpec {
  // Absent: the wildcard address of the socket's family.
  std::optional<IpAddress> host_address;
  std::uint16_t host_port = 0;
  std::uint16_t container_port = 0;
  Protocol protocol = Protocol::tcp;

  friend bool operator==(const PublishSpec&, const PublishSpec&) = default;
};

// Parses the text of one `--publish` flag, such as "8080:80", "127.0.0.1:8080:80/tcp" or
// "[::1]:5353:53/udp". On bad input returns a message that quotes the text and explains what is
// wrong.
std::variant<PublishSpec, std::string> parse_publish_spec(std::string_view text);

// The `--publish` flags as rules: one `bypass bind` rule with `publish` per flag, named
// publish-HOSTPORT-CONTAINERPORT-PROTOCOL (a suffix keeps repeated names unique).
std::string publish_rules_text(std::span<const PublishSpec> specs);

// The policy used when no rule file is given: the publish rules, then bypass of every TCP
// connect, then `default pass`.
std::string builtin_policy_text(std::span<const PublishSpec> specs);

}  // namespace sockgate::rules
