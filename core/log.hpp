// The gateway's logger: spdlog, to standard error.
#pragma once

#include <spdlog/spdlog.h>

#include <string_view>

namespace sockgate {

spdlog::logger& log();
// Sets the level from its name (trace, debug, info, warn, error, off); false for a bad name.
bool set_log_level(std::string_view level);

}  // namespace sockgate
