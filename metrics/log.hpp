// The logger of metrics/: the spdlog logger registered as "sockgate" when the program
// registered one, otherwise spdlog's default logger.
#pragma once

#include <spdlog/spdlog.h>

namespace sockgate::metrics {

inline spdlog::logger& log() {
  if (const auto named = spdlog::get("sockgate")) {
    return *named;
  }
  return *spdlog::default_logger_raw();
}

}  // namespace sockgate::metrics
