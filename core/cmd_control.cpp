#include <cstdio>
#include <filesystem>
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

// Prints why the gateway could not be reached. When the default socket of `serve` is missing,
// names the `sockgate run` gateways whose sockets sit beside it, because those need --pid.
void report_unreachable(const ControlFlags& flags, const std::exception& error) {
  std::fprintf(stderr, "sockgate: %s\n", error.what());
  if (!flags.path.empty() || flags.pid != 0) {
    return;
  }
  std::filesystem::path directory;
  try {
    directory = std::filesystem::path(default_control_path()).parent_path();
  } catch (const std::exception&) {
    return;  // no runtime directory, which the message above reports
  }
  std::string runs;
  std::error_code ignored;
  for (const auto& entry : std::filesystem::directory_iterator(directory, ignored)) {
    std::string name = entry.path().filename().string();
    if (name.starts_with("run-") && name.ends_with(".sock")) {
      runs += (runs.empty() ? "" : ", ") + name.substr(4, name.size() - 9);
    }
  }
  if (!runs.empty()) {
    std::fprintf(stderr,
                 "sockgate: no `sockgate serve` answers there, but `sockgate run` gateways do "
                 "(pid %s): pass --pid PID to address one\n",
                 runs.c_str());
  }
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
      if (!reply.value("ok", false)) {
        std::fprintf(stderr, "sockgate: %s\n",
                     reply.value("error", std::string("the gateway refused the request")).c_str());
        exit_code = 1;
        return;
      }
      std::fputs(flags->json ? (reply.dump(2) + "\n").c_str() : format_status(reply).c_str(),
                 stdout);
      exit_code = 0;
    } catch (const std::exception& error) {
      report_unreachable(*flags, error);
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
      if (auto errors = reply.find("errors"); errors != reply.end() && errors->is_array()) {
        for (const auto& error : *errors) {
          std::fprintf(stderr, "%s\n", error.get<std::string>().c_str());
        }
      }
      exit_code = ok ? 0 : 1;
    } catch (const std::exception& error) {
      report_unreachable(*flags, error);
      exit_code = 1;
    }
  });
}

}  // namespace sockgate
