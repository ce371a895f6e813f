// `sockgate check`: parses and compiles rule files, prints every diagnostic, and optionally
// explains the decision for one event or prints the built-in policy.
#pragma once

#include <CLI/CLI.hpp>
#include <iosfwd>
#include <string>
#include <vector>

namespace sockgate {

struct CheckOptions {
  // Rule files in order; empty: the built-in policy (with `publish`).
  std::vector<std::string> files;
  // Warnings fail the check too.
  bool strict = false;
  // Events to explain, such as "connect tcp 203.0.113.7:443 label app=web".
  std::vector<std::string> explain;
  // Print the built-in policy text instead of checking files.
  bool builtin = false;
  // `--publish` flags, as for `sockgate run`.
  std::vector<std::string> publish;
};

// Runs the check and returns the exit status: 0 when clean (warnings allowed unless `strict`),
// 1 on errors. Diagnostics and the summary go to `err`; explanations and the built-in policy
// go to `out`.
int run_check(const CheckOptions& options, std::ostream& out, std::ostream& err);

// Adds the `check` subcommand; when it runs, it stores run_check's status in `exit_code`.
void add_check_command(CLI::App& app, int& exit_code);

}  // namespace sockgate
