#include "core/notifier.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sys/ioctl.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "core/kernel.hpp"

namespace sockgate {
namespace {

void ignore_wake(int) {}

}  // namespace

int wake_signal() { return SIGRTMIN + 3; }

void install_wake_handler() {
  struct sigaction action{};
  action.sa_handler = ignore_wake;
  sigemptyset(&action.sa_mask);
  action.sa_flags = 0;
  ::sigaction(wake_signal(), &action, nullptr);
}

SeccompNotifier::SeccompNotifier(UniqueFd fd) : fd_(std::move(fd)) {}

bool SeccompNotifier::enable_sync_wake_up() {
  return ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SET_FLAGS, SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
                 0) == 0;
}

void SeccompNotifier::bind_to_current_thread() { thread_ = ::pthread_self(); }

bool SeccompNotifier::hung_up() const {
  pollfd entry{fd_.get(), POLLIN, 0};
  return ::poll(&entry, 1, 0) > 0 && (entry.revents & (POLLHUP | POLLERR | POLLNVAL));
}

ReceiveResult SeccompNotifier::receive(seccomp_notif& notification) {
  for (;;) {
    if (std::atomic_ref<bool>(woken_).load(std::memory_order_acquire)) {
      return ReceiveResult::woken;
    }
    std::memset(&notification, 0, sizeof notification);
    if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_RECV, &notification) == 0) {
      return ReceiveResult::notification;
    }
    int error = errno;
    if (error == EINTR) {
      continue;
    }
    // ENOENT: the target was interrupted before we read the notification, or (Linux 6.x) the
    // last process of the filter exited and the kernel woke us with nothing to read.
    if (hung_up()) {
      return ReceiveResult::hangup;
    }
    if (error == ENOENT) {
      return ReceiveResult::gone;
    }
    throw errno_error(error, "SECCOMP_IOCTL_NOTIF_RECV");
  }
}

bool SeccompNotifier::valid(std::uint64_t id) {
  return ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_ID_VALID, &id) == 0;
}

bool SeccompNotifier::respond(std::uint64_t id, std::int64_t value, int error) {
  seccomp_notif_resp response{};
  response.id = id;
  response.val = value;
  response.error = error == 0 ? 0 : -error;
  response.flags = 0;
  if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SEND, &response) == 0) {
    return true;
  }
  if (errno == ENOENT) {
    return false;
  }
  throw errno_error(errno, "SECCOMP_IOCTL_NOTIF_SEND");
}

bool SeccompNotifier::respond_continue(std::uint64_t id) {
  seccomp_notif_resp response{};
  response.id = id;
  response.flags = SECCOMP_USER_NOTIF_FLAG_CONTINUE;
  if (::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_SEND, &response) == 0) {
    return true;
  }
  if (errno == ENOENT) {
    return false;
  }
  throw errno_error(errno, "SECCOMP_IOCTL_NOTIF_SEND");
}

int SeccompNotifier::install_fd(std::uint64_t id, int fd, int target_fd, bool cloexec) {
  seccomp_notif_addfd request{};
  request.id = id;
  request.flags = SECCOMP_ADDFD_FLAG_SETFD;
  request.srcfd = static_cast<std::uint32_t>(fd);
  request.newfd = static_cast<std::uint32_t>(target_fd);
  request.newfd_flags = cloexec ? O_CLOEXEC : 0;
  int result = ::ioctl(fd_.get(), SECCOMP_IOCTL_NOTIF_ADDFD, &request);
  return result < 0 ? -errno : 0;
}

void SeccompNotifier::wake() {
  std::atomic_ref<bool>(woken_).store(true, std::memory_order_release);
  if (thread_ != 0) {
    ::pthread_kill(thread_, wake_signal());
  }
}

}  // namespace sockgate
