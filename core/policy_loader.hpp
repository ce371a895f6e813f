// The PolicyLoader of `run` and `serve`: rule files (or the built-in policy) through rules/.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/gateway.hpp"
#include "rules/publish.hpp"

namespace sockgate {

PolicyLoader make_policy_loader(std::vector<std::string> files,
                                std::vector<rules::PublishSpec> publishes,
                                std::optional<rules::Action> default_action);

}  // namespace sockgate
