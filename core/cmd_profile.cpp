// The `profile` subcommand: prints the seccomp profile that hands a container's connect and
// bind calls to `sockgate serve`.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "core/commands.hpp"
#include "core/config.hpp"
#include "core/profile.hpp"

namespace sockgate {
namespace {

struct ProfileFlags {
  std::string base;
  std::string listener;
  std::optional<std::string> metadata;
};

// Reads the base profile; prints why and returns std::nullopt when it cannot.
std::optional<nlohmann::ordered_json> read_base(const std::string& path) {
  std::ifstream stream(path);
  if (!stream) {
    std::fprintf(stderr, "sockgate: cannot read the base profile %s: %s\n", path.c_str(),
                 std::strerror(errno));
    return std::nullopt;
  }
  try {
    return nlohmann::ordered_json::parse(stream);
  } catch (const nlohmann::ordered_json::parse_error& error) {
    std::fprintf(stderr, "sockgate: the base profile %s is not valid JSON: %s\n", path.c_str(),
                 error.what());
    return std::nullopt;
  }
}

// The listener path as the runtime must see it: absolute, from the flag or the default of
// `serve`. Empty after printing why when there is none.
std::string listener_path(const ProfileFlags& flags) {
  std::string path = flags.listener;
  if (path.empty()) {
    config::ConfigResult defaults = config::default_config(config::Environment::from_process());
    if (!defaults.ok()) {
      std::fprintf(stderr,
                   "sockgate: XDG_RUNTIME_DIR is not set, so there is no default "
                   "listener path; set it or pass --listener PATH\n");
      return "";
    }
    path = defaults.config->listener_path;
  }
  return std::filesystem::absolute(path).lexically_normal().string();
}

int run_profile(const ProfileFlags& flags) {
  ProfileOptions options;
  if (!flags.base.empty()) {
    options.base = read_base(flags.base);
    if (!options.base) {
      return 1;
    }
    options.base_name = flags.base;
  }
  options.listener_path = listener_path(flags);
  if (options.listener_path.empty()) {
    return 1;
  }
  options.metadata = flags.metadata;
  ProfileResult result = make_profile(options);
  if (!result.error.empty()) {
    std::fprintf(stderr, "sockgate: %s\n", result.error.c_str());
    return 1;
  }
  for (const std::string& note : result.notes) {
    std::fprintf(stderr, "sockgate: note: %s\n", note.c_str());
  }
  for (const std::string& warning : result.warnings) {
    std::fprintf(stderr, "sockgate: warning: %s\n", warning.c_str());
  }
  std::printf("%s\n", result.profile.dump(2).c_str());
  return 0;
}

}  // namespace

void add_profile_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<ProfileFlags>();
  CLI::App* profile = app.add_subcommand(
      "profile",
      "Print a seccomp profile (Docker/Podman JSON) that sends each connect and bind "
      "of a container to sockgate serve");
  profile->add_option("--base", flags->base,
                      "Profile to extend, such as Podman's /usr/share/containers/seccomp.json; "
                      "its rules are kept. Default: allow every other call");
  profile->add_option("--listener", flags->listener,
                      "Listener socket of sockgate serve (listenerPath). Default: "
                      "$XDG_RUNTIME_DIR/sockgate/listener.sock");
  profile->add_option("--metadata", flags->metadata,
                      "Text that the runtime passes to sockgate with each container "
                      "(listenerMetadata). Default: the base's, or none");
  profile->callback([flags, &exit_code] { exit_code = run_profile(*flags); });
}

}  // namespace sockgate
