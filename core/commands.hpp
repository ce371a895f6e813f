// The subcommands of the `sockgate` program. Each adds itself to the CLI11 application and, when
// it runs, stores the program's exit status in `exit_code`.
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace sockgate {

// `command` is what followed `--` on the command line.
void add_run_command(CLI::App& app, int& exit_code, std::vector<std::string> command);
void add_check_command(CLI::App& app, int& exit_code);
void add_status_command(CLI::App& app, int& exit_code);
void add_reload_command(CLI::App& app, int& exit_code);
void add_serve_command(CLI::App& app, int& exit_code);
void add_profile_command(CLI::App& app, int& exit_code);

}  // namespace sockgate
