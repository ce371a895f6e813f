#include "metrics/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <memory>

namespace sockgate::metrics {

spdlog::logger& log() {
  if (const auto registered = spdlog::get("sockgate")) {
    return *registered;
  }
  static const std::shared_ptr<spdlog::logger> fallback = [] {
    auto logger = std::make_shared<spdlog::logger>(
        "sockgate.metrics", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    logger->set_pattern("sockgate: %l: %v");
    return logger;
  }();
  return *fallback;
}

}  // namespace sockgate::metrics
