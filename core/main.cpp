// The `sockgate` program: a policy-driven bypass gateway for rootless containers.
#include <unistd.h>

#include <cstdio>

#include <CLI/CLI.hpp>

#include "core/commands.hpp"
#include "core/log.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "sockgate: switches the sockets of rootless containers to the host's network, by rules"};
  app.set_version_flag("--version", "sockgate " SOCKGATE_VERSION);
  app.require_subcommand(1);
  int exit_code = 0;
  sockgate::log();  // registers the logger before any part looks it up
  sockgate::add_run_command(app, exit_code);
#if __has_include("core/cmd_check.hpp")
  sockgate::add_check_command(app, exit_code);
#endif
  sockgate::add_status_command(app, exit_code);
  sockgate::add_reload_command(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& error) {
    return app.exit(error);
  }
  sockgate::log().flush();
  std::fflush(nullptr);
  // Worker threads may still wait on connects of a container that is gone; they hold nothing
  // that needs a destructor at exit.
  ::_exit(exit_code);
}
