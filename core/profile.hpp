// `sockgate profile`: the seccomp profile (Docker/Podman JSON) that makes a container runtime
// hand connect() and bind() to `sockgate serve`.
//
// The profile puts one SCMP_ACT_NOTIFY rule for connect and bind first and keeps every rule of
// the base profile. Measured with runc 1.1.5 and libseccomp 2.5.4 on x86_64, whose profiles list
// the x86 and x32 sub-architectures (where connect and bind also go through socketcall):
//   - a later rule without arguments for the same call with another action makes the container
//     fail to start ("error adding seccomp filter rule for syscall bind: file exists"), so
//     connect and bind are taken out of the base's rules that allow them without arguments;
//   - a later rule with argument conditions is accepted but has no effect: the earlier rule
//     without arguments decides every call. Such rules stay and are reported as warnings.
// A call that the base denies outright stays denied and is not notified. Nothing but connect and
// bind is ever notified: runtimes use sendmsg and fcntl while they hand the listener over, and
// would hang waiting for the gateway they are handing it to.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace sockgate {

struct ProfileOptions {
  // The base profile; std::nullopt: allow everything else, on this machine's architectures.
  std::optional<nlohmann::ordered_json> base;
  // How messages name the base, usually its file name.
  std::string base_name = "the base profile";
  // The listener socket of `sockgate serve`, absolute.
  std::string listener_path;
  // listenerMetadata; std::nullopt keeps the base's.
  std::optional<std::string> metadata;
};

struct ProfileResult {
  // The profile; null when `error` is set.
  nlohmann::ordered_json profile;
  // Changes to the base's rules that keep what they do, one sentence each.
  std::vector<std::string> notes;
  // Base rules that stay but no longer take effect, and calls that stay denied.
  std::vector<std::string> warnings;
  std::string error;
};

ProfileResult make_profile(const ProfileOptions& options);

// The seccomp architectures of this machine in profile form (SCMP_ARCH_X86_64, then the
// sub-architectures its kernel also runs, as Podman lists them).
std::vector<std::string> native_architectures();

}  // namespace sockgate
