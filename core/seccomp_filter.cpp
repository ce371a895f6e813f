#include "core/seccomp_filter.hpp"

#include <linux/audit.h>
#include <linux/net.h>
#include <seccomp.h>
#include <sys/socket.h>
#include <sys/syscall.h>

#include <algorithm>
#include <cerrno>
#include <initializer_list>
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

using Filter = std::unique_ptr<void, FilterDeleter>;

// Returns an empty filter that allows everything, for `architectures` only.
Filter new_filter(std::initializer_list<std::uint32_t> architectures) {
  Filter filter(seccomp_init(SCMP_ACT_ALLOW));
  if (!filter) {
    throw errno_error(ENOMEM, "seccomp_init");
  }
  // The caller runs in a user namespace it owns, so no_new_privs is not needed; leaving it
  // unset keeps setuid programs inside working as they would without sockgate.
  check(seccomp_attr_set(filter.get(), SCMP_FLTATR_CTL_NNP, 0), "seccomp_attr_set(NNP)");
  for (std::uint32_t architecture : architectures) {
    int result = seccomp_arch_add(filter.get(), architecture);
    if (result < 0 && result != -EEXIST) {
      throw errno_error(-result, "seccomp_arch_add");
    }
  }
  if (std::find(architectures.begin(), architectures.end(), SCMP_ARCH_NATIVE) ==
      architectures.end()) {
    check(seccomp_arch_remove(filter.get(), SCMP_ARCH_NATIVE), "seccomp_arch_remove");
  }
  return filter;
}

// Adds the rules every architecture gets: notify connect and bind, and fail io_uring with
// ENOSYS, as a kernel built without it does. An IORING_OP_CONNECT runs inside the kernel past
// every filter, so it could reach a denied address. Programs that check for ENOSYS fall back to
// plain calls.
void add_common_rules(void* filter) {
  check(seccomp_rule_add(filter, SCMP_ACT_NOTIFY, SCMP_SYS(connect), 0),
        "seccomp_rule_add(connect)");
  check(seccomp_rule_add(filter, SCMP_ACT_NOTIFY, SCMP_SYS(bind), 0), "seccomp_rule_add(bind)");
  for (int call :
       {SCMP_SYS(io_uring_setup), SCMP_SYS(io_uring_enter), SCMP_SYS(io_uring_register)}) {
    check(seccomp_rule_add(filter, SCMP_ACT_ERRNO(ENOSYS), call, 0),
          "seccomp_rule_add(io_uring)");
  }
}

// Fails TCP Fast Open sends (MSG_FASTOPEN) with EOPNOTSUPP, as a kernel with client Fast Open
// turned off does, because they connect without a connect() call to notify. Only for the
// 64-bit ABIs: on i386 libseccomp would also test the flags on socketcall(), whose arguments
// sit in memory, and fail unrelated sends.
void add_fast_open_rules(void* filter) {
  auto fast_open = SCMP_ACT_ERRNO(EOPNOTSUPP);
  check(seccomp_rule_add(filter, fast_open, SCMP_SYS(sendto), 1,
                         SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN)),
        "seccomp_rule_add(sendto)");
  check(seccomp_rule_add(filter, fast_open, SCMP_SYS(sendmsg), 1,
                         SCMP_A2(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN)),
        "seccomp_rule_add(sendmsg)");
  check(seccomp_rule_add(filter, fast_open, SCMP_SYS(sendmmsg), 1,
                         SCMP_A3(SCMP_CMP_MASKED_EQ, MSG_FASTOPEN, MSG_FASTOPEN)),
        "seccomp_rule_add(sendmmsg)");
}

}  // namespace

UniqueFd install_socket_filter() {
  Filter filter = new_filter({SCMP_ARCH_NATIVE, SCMP_ARCH_X32});
  add_common_rules(filter.get());
  add_fast_open_rules(filter.get());
  Filter i386 = new_filter({SCMP_ARCH_X86});
  add_common_rules(i386.get());
  check(seccomp_merge(filter.get(), i386.get()), "seccomp_merge");
  i386.release();  // seccomp_merge took it over
  check(seccomp_load(filter.get()), "seccomp_load");
  int fd = seccomp_notify_fd(filter.get());
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
