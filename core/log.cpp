#include "core/log.hpp"

#include <spdlog/sinks/stdout_sinks.h>

#include <memory>

namespace sockgate {

spdlog::logger& log() {
  static std::shared_ptr<spdlog::logger> logger = [] {
    auto instance = std::make_shared<spdlog::logger>(
        "sockgate", std::make_shared<spdlog::sinks::stderr_sink_mt>());
    instance->set_pattern("sockgate: %l: %v");
    instance->set_level(spdlog::level::info);
    // Registered so that metrics/, which looks the logger up by name, logs the same way.
    spdlog::register_logger(instance);
    return instance;
  }();
  return *logger;
}

bool set_log_level(std::string_view level) {
  auto parsed = spdlog::level::from_str(std::string(level));
  if (parsed == spdlog::level::off && level != "off") {
    return false;
  }
  log().set_level(parsed);
  return true;
}

}  // namespace sockgate
