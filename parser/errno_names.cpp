#include "parser/errno_names.hpp"

#include <array>
#include <cerrno>
#include <utility>

namespace sockgate::parser {

namespace {

// The errors a real connect() or bind() can return, so a denied call looks like a natural
// failure to the program inside the container.
constexpr std::array<std::pair<std::string_view, int>, 17> kNames{{
    {"EACCES", EACCES},
    {"EADDRINUSE", EADDRINUSE},
    {"EADDRNOTAVAIL", EADDRNOTAVAIL},
    {"EAFNOSUPPORT", EAFNOSUPPORT},
    {"EAGAIN", EAGAIN},
    {"ECONNABORTED", ECONNABORTED},
    {"ECONNREFUSED", ECONNREFUSED},
    {"ECONNRESET", ECONNRESET},
    {"EHOSTDOWN", EHOSTDOWN},
    {"EHOSTUNREACH", EHOSTUNREACH},
    {"EINVAL", EINVAL},
    {"ENETDOWN", ENETDOWN},
    {"ENETUNREACH", ENETUNREACH},
    {"ENOBUFS", ENOBUFS},
    {"EPERM", EPERM},
    {"EPROTONOSUPPORT", EPROTONOSUPPORT},
    {"ETIMEDOUT", ETIMEDOUT},
}};

}  // namespace

std::optional<int> errno_from_name(std::string_view name) {
  for (const auto& [known, value] : kNames) {
    if (known == name) {
      return value;
    }
  }
  return std::nullopt;
}

std::string accepted_errno_names() {
  std::string names;
  for (const auto& [known, value] : kNames) {
    if (!names.empty()) {
      names += ", ";
    }
    names += known;
  }
  return names;
}

std::string_view errno_name(int value) {
  for (const auto& [known, known_value] : kNames) {
    if (known_value == value) {
      return known;
    }
  }
  return "E?";
}

}  // namespace sockgate::parser
