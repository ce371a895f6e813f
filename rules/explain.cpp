#include "rules/explain.hpp"

#include <algorithm>
#include <charconv>
#include <vector>

#include "parser/errno_names.hpp"
#include "parser/terminal_text.hpp"

namespace sockgate::rules {

namespace {

std::vector<std::string_view> split_words(std::string_view text) {
  std::vector<std::string_view> words;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t begin = text.find_first_not_of(" \t", start);
    if (begin == std::string_view::npos) {
      break;
    }
    const std::size_t end = std::min(text.find_first_of(" \t", begin), text.size());
    words.push_back(text.substr(begin, end - begin));
    start = end;
  }
  return words;
}

std::string bad_event(std::string_view text, const std::string& reason) {
  return "invalid event '" + std::string(text) + "': " + reason +
         "; expected OPERATION [PROTOCOL] ADDRESS:PORT [label KEY=VALUE]..., such as "
         "'connect tcp 203.0.113.7:443 label app=web'";
}

// Splits "ADDRESS:PORT" or "[IPV6]:PORT".
bool parse_endpoint(std::string_view word, Event& event) {
  std::string_view address_text;
  std::string_view port_text;
  if (word.starts_with('[')) {
    const std::size_t close = word.find("]:");
    if (close == std::string_view::npos) {
      return false;
    }
    address_text = word.substr(1, close - 1);
    port_text = word.substr(close + 2);
  } else {
    const std::size_t colon = word.rfind(':');
    if (colon == std::string_view::npos || word.find(':') != colon) {
      return false;
    }
    address_text = word.substr(0, colon);
    port_text = word.substr(colon + 1);
  }
  const auto address = IpAddress::parse(address_text);
  unsigned port = 0;
  const char* end = port_text.data() + port_text.size();
  const auto [ptr, error] = std::from_chars(port_text.data(), end, port);
  if (!address || port_text.empty() || error != std::errc() || ptr != end || port > 65535) {
    return false;
  }
  event.address = *address;
  event.port = static_cast<std::uint16_t>(port);
  return true;
}

}  // namespace

std::variant<ExplainRequest, std::string> parse_explain_request(std::string_view text) {
  const std::vector<std::string_view> words = split_words(text);
  ExplainRequest request;
  std::size_t next = 0;

  if (next < words.size() && (words[next] == "connect" || words[next] == "bind")) {
    request.event.operation = words[next] == "connect" ? Operation::connect : Operation::bind;
    ++next;
  } else {
    return bad_event(text, "it must start with 'connect' or 'bind'");
  }
  if (next < words.size() && (words[next] == "tcp" || words[next] == "udp")) {
    request.event.protocol = words[next] == "tcp" ? Protocol::tcp : Protocol::udp;
    ++next;
  }
  if (next >= words.size() || !parse_endpoint(words[next], request.event)) {
    return bad_event(text, "expected ADDRESS:PORT (IPv6 as [ADDRESS]:PORT, port 0-65535)");
  }
  ++next;

  while (next < words.size()) {
    if (words[next] != "label" || next + 1 >= words.size()) {
      return bad_event(text, "unexpected '" + std::string(words[next]) + "'");
    }
    const std::string_view pair = words[next + 1];
    const std::size_t equals = pair.find('=');
    const std::string_view key = pair.substr(0, equals);
    if (key.empty()) {
      return bad_event(text, "a label needs a key");
    }
    const std::string_view value =
        equals == std::string_view::npos ? std::string_view() : pair.substr(equals + 1);
    request.labels.set(std::string(key), std::string(value));
    next += 2;
  }
  return request;
}

std::string explain_decision(const Policy& policy, const Decision& decision,
                             const std::string& default_origin) {
  std::string text = "decision: " + std::string(to_string(decision.action));
  if (decision.action == Action::deny) {
    text += " (errno " + std::string(parser::errno_name(decision.error)) + ")";
  }
  if (decision.publish) {
    const std::string port = std::to_string(decision.publish->port);
    std::string target = port;
    if (decision.publish->address) {
      const std::string address = decision.publish->address->to_string();
      target =
          decision.publish->address->is_v4() ? address + ":" + port : "[" + address + "]:" + port;
    }
    text += ", published on host port " + target;
  }
  text += "\n";

  if (decision.rule == kDefaultRule) {
    text += "rule: none matched; the default is " + std::string(to_string(decision.action)) + " (" +
            parser::escape_control_characters(default_origin) + ")\n";
    return text;
  }
  const RuleInfo& rule = policy.rules()[decision.rule];
  // The rule text may contain control characters from a quoted label value.
  text += parser::escape_control_characters("rule: " + rule.name + " at " + rule.location);
  text += "\n  " + parser::escape_control_characters(rule.text) + "\n";
  return text;
}

}  // namespace sockgate::rules
