// The vocabulary shared by the policy and the switching core: what an intercepted call looks
// like to the policy (Event), and what the policy tells the core to do with it (Decision).
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

struct in_addr;
struct in6_addr;

namespace sockgate::rules {

enum class Operation : std::uint8_t { connect, bind };
enum class Protocol : std::uint8_t { tcp, udp };
enum class Action : std::uint8_t { pass, bypass, deny };

std::string_view to_string(Operation operation);
std::string_view to_string(Protocol protocol);
std::string_view to_string(Action action);

// An IP address in IPv6 form. IPv4 addresses are stored IPv4-mapped (::ffff:a.b.c.d), so one
// matcher serves both families and a mapped address matches IPv4 rules.
struct IpAddress {
  std::array<std::uint8_t, 16> bytes{};

  static IpAddress from_v4(const in_addr& address);
  static IpAddress from_v6(const in6_addr& address);
  // Parses dotted IPv4 or RFC 4291 IPv6 text; std::nullopt when the text is neither.
  static std::optional<IpAddress> parse(std::string_view text);

  bool is_v4() const noexcept;
  in_addr to_v4() const noexcept;
  in6_addr to_v6() const noexcept;
  // Dotted form for IPv4 (mapped) addresses, RFC 5952 form otherwise.
  std::string to_string() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;
  friend auto operator<=>(const IpAddress&, const IpAddress&) = default;
};

// One intercepted call as the policy sees it.
struct Event {
  Operation operation = Operation::connect;
  Protocol protocol = Protocol::tcp;
  // Destination for connect, local address for bind.
  IpAddress address;
  // Host byte order.
  std::uint16_t port = 0;
};

// Where a bypassed bind listens on the host.
struct Publish {
  // Absent: the wildcard address of the socket's family.
  std::optional<IpAddress> address;
  // Host byte order; never 0.
  std::uint16_t port = 0;
};

// Index of the default action in Decision::rule; rule indexes count from 0.
inline constexpr std::uint32_t kDefaultRule = UINT32_MAX;

struct Decision {
  Action action = Action::pass;
  // Index into Policy::rules() of the rule that matched, or kDefaultRule.
  std::uint32_t rule = kDefaultRule;
  // errno for a deny; EACCES unless the rule names another.
  int error = 0;
  // Set for a bypass bind that publishes; a bypass bind without it keeps the container's port.
  std::optional<Publish> publish;
};

}  // namespace sockgate::rules
