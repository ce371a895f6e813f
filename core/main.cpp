// The `sockgate` program: a policy-driven bypass gateway for rootless containers.
#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "core/commands.hpp"
#include "core/log.hpp"

namespace {

// Splits off what follows the first `--`: the command of `run`, with options of its own that
// CLI11 must not see.
std::vector<std::string> split_command(int& argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::string_view(argv[i]) == "--") {
      std::vector<std::string> command(argv + i + 1, argv + argc);
      argc = i;
      return command;
    }
  }
  return {};
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> command = split_command(argc, argv);
  bool command_given = !command.empty();
  CLI::App app{
      "sockgate: switches the sockets of rootless containers to the host's network, by rules"};
  app.name("sockgate");
  app.set_version_flag("--version", "sockgate " SOCKGATE_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  sockgate::log();  // registers the logger before any part looks it up
  sockgate::add_run_command(app, exit_code, std::move(command));
#if __has_include("core/cmd_check.hpp")
  sockgate::add_check_command(app, exit_code);
#endif
  sockgate::add_status_command(app, exit_code);
  sockgate::add_reload_command(app, exit_code);
  sockgate::add_serve_command(app, exit_code);
  sockgate::add_profile_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ExtrasError& error) {
    if (app.got_subcommand("run") && !command_given) {
      std::fprintf(stderr, "sockgate: %s\nsockgate: put -- before the command: sockgate run "
                   "[OPTIONS] -- COMMAND [ARGS...]\n", error.what());
      return 125;
    }
    return app.exit(error);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  sockgate::log().flush();
  std::fflush(nullptr);
  // Worker threads may still wait on connects of a container that is gone; they hold nothing
  // that needs a destructor at exit.
  ::_exit(exit_code);
}
