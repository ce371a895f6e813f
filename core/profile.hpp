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
//
// Two kinds of call open connections without a connect() to notify. When the base lets them run,
// the profile fails them as the filter of `sockgate run` does: io_uring_setup, io_uring_enter
// and io_uring_register with ENOSYS, and sendto, sendmsg and sendmmsg with MSG_FASTOPEN in their
// flags with EOPNOTSUPP. Those rules use SCMP_CMP_MASKED_EQ, where "value" is the mask and
// "valueTwo" the expected value. The send calls are taken out of the base's rules
// without arguments that allow them, because runc 1.1.5 accepts an earlier conditional rule
// beside such a rule but lets the rule without arguments decide every call.
//
// NOTE: on the x86 sub-architecture (i386), libseccomp 2.5.4 also applies the Fast Open
// conditions to socketcall(SYS_SENDTO) and the like, whose flags sit in memory: it tests a
// register that socketcall ignores. With a base that allows socketcall by a rule (Podman's),
// that rule decides every socketcall and the conditions have no effect there. With a base that
// allows it by its defaultAction (no --base), an i386 send through socketcall fails with
// EOPNOTSUPP whenever that register happens to have bit 29 set.
// NOTE: in the same way, a base rule that allows socketcall without arguments decides every
// i386 socketcall(SYS_CONNECT) and socketcall(SYS_BIND), so those reach the container's network
// without a notification (libseccomp 2.5.4 filter output; not yet run with an i386 program).
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
