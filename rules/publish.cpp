#include "rules/publish.hpp"

#include <charconv>
#include <set>

namespace sockgate::rules {

namespace {

constexpr std::string_view kPublishForm =
    "expected [HOST_ADDRESS:]HOST_PORT:CONTAINER_PORT[/tcp|/udp], such as 8080:80 or "
    "127.0.0.1:8080:80/tcp";

// Builds 'TEXT' with appends: GCC 12 reports a false -Wrestrict for "'" + std::string at -O3.
std::string quoted(std::string_view text) {
  std::string result;
  result.append("'").append(text).append("'");
  return result;
}

std::string invalid(std::string_view text, const std::string& reason) {
  return "invalid --publish '" + std::string(text) + "': " + reason;
}

std::optional<std::uint16_t> parse_port(std::string_view digits) {
  unsigned value = 0;
  const char* end = digits.data() + digits.size();
  const auto [ptr, error] = std::from_chars(digits.data(), end, value);
  if (digits.empty() || error != std::errc() || ptr != end || value == 0 || value > 65535) {
    return std::nullopt;
  }
  return static_cast<std::uint16_t>(value);
}

// Splits off "[ADDRESS]:" or "ADDRESS:" when HOST_PORT:CONTAINER_PORT follows it.
std::variant<std::optional<IpAddress>, std::string> take_address(std::string_view& rest,
                                                                 std::string_view text) {
  if (rest.starts_with('[')) {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos || rest.substr(close + 1, 1) != ":") {
      return invalid(text, "expected ']:' after the IPv6 address");
    }
    const std::string_view inside = rest.substr(1, close - 1);
    const auto address = IpAddress::parse(inside);
    if (!address || address->is_v4()) {
      return invalid(text, quoted(inside) + " is not an IPv6 address");
    }
    rest.remove_prefix(close + 2);
    return std::optional<IpAddress>(*address);
  }
  const std::size_t first = rest.find(':');
  if (first == std::string_view::npos || rest.find(':', first + 1) == std::string_view::npos) {
    return std::optional<IpAddress>();
  }
  const std::string_view host = rest.substr(0, first);
  const auto address = IpAddress::parse(host);
  if (!address || !address->is_v4()) {
    return invalid(text,
                   quoted(host) + " is not an IPv4 address; write an IPv6 address in brackets");
  }
  rest.remove_prefix(first + 1);
  return std::optional<IpAddress>(*address);
}

}  // namespace

std::variant<PublishSpec, std::string> parse_publish_spec(std::string_view text) {
  PublishSpec spec;
  std::string_view rest = text;

  if (const std::size_t slash = rest.rfind('/'); slash != std::string_view::npos) {
    const std::string_view protocol = rest.substr(slash + 1);
    if (protocol != "tcp" && protocol != "udp") {
      return invalid(text, "unknown protocol " + quoted(protocol) + "; use tcp or udp");
    }
    spec.protocol = protocol == "tcp" ? Protocol::tcp : Protocol::udp;
    rest = rest.substr(0, slash);
  }

  auto address = take_address(rest, text);
  if (auto* error = std::get_if<std::string>(&address)) {
    return *error;
  }
  spec.host_address = std::get<std::optional<IpAddress>>(address);

  const std::size_t colon = rest.find(':');
  if (colon == std::string_view::npos) {
    return invalid(text, std::string(kPublishForm));
  }
  const auto host_port = parse_port(rest.substr(0, colon));
  const auto container_port = parse_port(rest.substr(colon + 1));
  if (!host_port || !container_port) {
    return invalid(text, "ports must be numbers from 1 to 65535; " + std::string(kPublishForm));
  }
  spec.host_port = *host_port;
  spec.container_port = *container_port;
  return spec;
}

std::string publish_rules_text(std::span<const PublishSpec> specs) {
  std::string text;
  std::set<std::string> names;
  for (const auto& spec : specs) {
    const std::string protocol(to_string(spec.protocol));
    const std::string base = "publish-" + std::to_string(spec.host_port) + "-" +
                             std::to_string(spec.container_port) + "-" + protocol;
    std::string name = base;
    for (int suffix = 2; !names.insert(name).second; ++suffix) {
      name = base + "-" + std::to_string(suffix);
    }

    std::string target;
    if (spec.host_address && spec.host_address->is_v4()) {
      target.append(spec.host_address->to_string()).append(":");
    } else if (spec.host_address) {
      target.append("[").append(spec.host_address->to_string()).append("]:");
    }
    target.append(std::to_string(spec.host_port));
    text += "rule " + name + ": bypass bind " + protocol + " port " +
            std::to_string(spec.container_port) + " publish " + target + "\n";
  }
  return text;
}

std::string builtin_policy_text(std::span<const PublishSpec> specs) {
  std::string text =
      "# The built-in policy, used when no rule file is given. Every TCP connect goes through\n"
      "# the host's network (except to addresses local to the container, which always stay\n"
      "# inside); everything else passes through the container's own network.\n";
  text += publish_rules_text(specs);
  text += "rule tcp-connect: bypass connect tcp\n";
  text += "default pass\n";
  return text;
}

}  // namespace sockgate::rules
