// The errno names a deny rule may return.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace sockgate::parser {

// The errno value for a name such as "ECONNREFUSED"; std::nullopt for names outside the list.
std::optional<int> errno_from_name(std::string_view name);
// The accepted names, comma-separated, for messages and documentation.
std::string accepted_errno_names();
// The name of an errno value in the list; "E?" for any other value.
std::string_view errno_name(int value);

}  // namespace sockgate::parser
