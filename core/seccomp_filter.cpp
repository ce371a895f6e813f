#include "core/seccomp_filter.hpp"

#include <linux/audit.h>
#include <linux/net.h>
#include <seccomp.h>
#include <sys/syscall.h>

#include <cerrno>
#include <memory>

#include "core/kernel.hpp"

namespace sockgate {
namespace {

// i386 system call numbers; the build machine's headers describe x86_64 only.
constexpr int kI386Socketcall = 102;
constexpr int kI386Bind = 361;
constexpr int kI386Connect = 362;
constexpr std::uint32_t kX32SyscallBit = 0x40000000;

struct FilterDeleter {
  void operator()(void* context) const { seccomp_release(context); }
};

void check(int result, const char* what) {
  if (result < 0) {
    throw errno_error(-result, what);
  }
}

}  // namespace

UniqueFd install_socket_filter() {
  std::unique_ptr<void, FilterDeleter> context(seccomp_init(SCMP_ACT_ALLOW));
  if (!context) {
    throw errno_error(ENOMEM, "seccomp_init");
  }
  // The caller runs in a user namespace it owns, so no_new_privs is not needed; leaving it
  // unset keeps setuid programs inside working as they would without sockgate.
  check(seccomp_attr_set(context.get(), SCMP_FLTATR_CTL_NNP, 0), "seccomp_attr_set(NNP)");
  for (std::uint32_t arch : {SCMP_ARCH_X86, SCMP_ARCH_X32}) {
    int result = seccomp_arch_add(context.get(), arch);
    if (result < 0 && result != -EEXIST) {
      throw errno_error(-result, "seccomp_arch_add");
    }
  }
  check(seccomp_rule_add(context.get(), SCMP_ACT_NOTIFY, SCMP_SYS(connect), 0),
        "seccomp_rule_add(connect)");
  check(seccomp_rule_add(context.get(), SCMP_ACT_NOTIFY, SCMP_SYS(bind), 0),
        "seccomp_rule_add(bind)");
  check(seccomp_load(context.get()), "seccomp_load");
  int fd = seccomp_notify_fd(context.get());
  if (fd < 0) {
    throw errno_error(-fd, "seccomp_notify_fd");
  }
  return UniqueFd(fd);
}

std::optional<SocketCall> decode_socket_call(const seccomp_data& data) {
  SocketCall call;
  if (data.arch == AUDIT_ARCH_X86_64) {
    auto nr = static_cast<std::uint32_t>(data.nr) & ~kX32SyscallBit;
    if (nr == SYS_connect) {
      call.operation = rules::Operation::connect;
    } else if (nr == SYS_bind) {
      call.operation = rules::Operation::bind;
    } else {
      return std::nullopt;
    }
  } else if (data.arch == AUDIT_ARCH_I386) {
    if (data.nr == kI386Connect) {
      call.operation = rules::Operation::connect;
    } else if (data.nr == kI386Bind) {
      call.operation = rules::Operation::bind;
    } else if (data.nr == kI386Socketcall && data.args[0] == SYS_CONNECT) {
      call.operation = rules::Operation::connect;
      call.socketcall_args = static_cast<std::uint32_t>(data.args[1]);
      return call;
    } else if (data.nr == kI386Socketcall && data.args[0] == SYS_BIND) {
      call.operation = rules::Operation::bind;
      call.socketcall_args = static_cast<std::uint32_t>(data.args[1]);
      return call;
    } else {
      return std::nullopt;
    }
    call.fd = static_cast<int>(static_cast<std::int32_t>(data.args[0]));
    call.address = static_cast<std::uint32_t>(data.args[1]);
    call.address_length = static_cast<std::uint32_t>(data.args[2]);
    return call;
  } else {
    return std::nullopt;
  }
  call.fd = static_cast<int>(static_cast<std::int32_t>(data.args[0]));
  call.address = data.args[1];
  call.address_length = static_cast<std::uint32_t>(data.args[2]);
  return call;
}

}  // namespace sockgate
