// The subcommands of the `sockgate` program. Each adds itself to the CLI11 application and, when
// it runs, stores the program's exit status in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

namespace sockgate {

void add_run_command(CLI::App& app, int& exit_code);
void add_check_command(CLI::App& app, int& exit_code);
void add_status_command(CLI::App& app, int& exit_code);
void add_reload_command(CLI::App& app, int& exit_code);

}  // namespace sockgate
