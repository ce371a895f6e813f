// `sockgate check --explain`: an event written as text, and the decision described.
#pragma once

#include <string>
#include <string_view>
#include <variant>

#include "rules/event.hpp"
#include "rules/policy.hpp"

namespace sockgate::rules {

struct ExplainRequest {
  Event event;
  LabelSet labels;
};

// Parses `OPERATION [PROTOCOL] ADDRESS:PORT [label KEY[=VALUE]]...`, for example
// "connect tcp 203.0.113.7:443 label app=web" or "bind udp [2001:db8::1]:53". The protocol
// defaults to tcp; an IPv6 address is written in brackets. Returns a message on bad input.
std::variant<ExplainRequest, std::string> parse_explain_request(std::string_view text);

// The decision and the rule that made it, or the default, over several lines:
//
//   decision: deny (errno ECONNREFUSED)
//   rule: refused at shop.rules:12
//     rule refused: deny connect tcp port 25 errno ECONNREFUSED
std::string explain_decision(const Policy& policy, const Decision& decision,
                             const std::string& default_origin);

}  // namespace sockgate::rules
