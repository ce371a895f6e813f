// The logger of metrics/: the spdlog logger registered as "sockgate" when the program registered
// one, otherwise a logger of its own that writes to standard error as "sockgate: LEVEL: TEXT",
// because standard output belongs to the command that `sockgate run` runs.
#pragma once

#include <spdlog/spdlog.h>

namespace sockgate::metrics {

spdlog::logger& log();

}  // namespace sockgate::metrics
