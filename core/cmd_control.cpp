#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "core/commands.hpp"
#include "core/control.hpp"

namespace sockgate {
namespace {

struct ControlFlags {
  std::string path;
  long pid = 0;
  bool json = false;
};

void add_target_options(CLI::App& command, ControlFlags& flags) {
  command.add_option("--control", flags.path,
                     "Control socket. Default: $XDG_RUNTIME_DIR/sockgate/control.sock of serve");
  command.add_option("--pid", flags.pid, "The process id of a `sockgate run` to address");
}

std::string control_path(const ControlFlags& flags) {
  if (!flags.path.empty()) {
    return flags.path;
  }
  return flags.pid != 0 ? run_control_path(flags.pid) : default_control_path();
}

}  // namespace

void add_status_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ControlFlags>();
  CLI::App* status = app.add_subcommand(
      "status", "Print the running gateway's rules with their hits and bytes");
  add_target_options(*status, *flags);
  status->add_flag("--json", flags->json, "Print the reply as JSON");
  status->callback([flags, &exit_code] {
    try {
      auto reply = control_request(control_path(*flags), {{"command", "status"}});
      std::fputs(flags->json ? (reply.dump(2) + "\n").c_str() : format_status(reply).c_str(),
                 stdout);
      exit_code = 0;
    } catch (const std::exception& error) {
      std::fprintf(stderr, "sockgate: %s\n", error.what());
      exit_code = 1;
    }
  });
}

void add_reload_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ControlFlags>();
  CLI::App* reload = app.add_subcommand(
      "reload", "Reload the running gateway's rules, as SIGHUP does, and report the result");
  add_target_options(*reload, *flags);
  reload->callback([flags, &exit_code] {
    try {
      auto reply = control_request(control_path(*flags), {{"command", "reload"}});
      bool ok = reply.value("ok", false);
      std::fprintf(ok ? stdout : stderr, "sockgate: %s\n",
                   reply.value("message", reply.value("error", std::string("no reply"))).c_str());
      exit_code = ok ? 0 : 1;
    } catch (const std::exception& error) {
      std::fprintf(stderr, "sockgate: %s\n", error.what());
      exit_code = 1;
    }
  });
}

}  // namespace sockgate
