// The seccomp notification descriptor of one container, behind an interface so the notification
// loop can be tested without the kernel.
#pragma once

#include <linux/seccomp.h>

#include <cstdint>

#include "core/fd.hpp"

namespace sockgate {

enum class ReceiveResult {
  notification,
  // The target was interrupted or died before the notification was read: routine.
  gone,
  // No process uses the filter any more: the container ended.
  hangup,
  // The loop was asked to stop (Notifier::wake).
  woken,
};

class Notifier {
 public:
  virtual ~Notifier() = default;

  // Blocks until a notification arrives.
  virtual ReceiveResult receive(seccomp_notif& notification) = 0;
  // Whether the notification is still pending: the target has not been interrupted or died.
  virtual bool valid(std::uint64_t id) = 0;
  // Answers with a return value (`error` == 0) or an error number. Returns false when the
  // notification is gone (the target was interrupted or died), which is routine.
  virtual bool respond(std::uint64_t id, std::int64_t value, int error) = 0;
  // Lets the kernel run the call as if it had not been trapped. Only for calls whose outcome
  // cannot depend on what was checked (sockets sockgate does not police). False when gone.
  virtual bool respond_continue(std::uint64_t id) = 0;
  // Installs `fd` in the target as descriptor `target_fd` (replacing what was there) with
  // close-on-exec as given. Returns 0, or -errno (-ENOENT when the notification is gone).
  virtual int install_fd(std::uint64_t id, int fd, int target_fd, bool cloexec) = 0;
  // Makes a blocked receive() return `woken`; callable from any thread.
  virtual void wake() = 0;
  // Binds wake() to the calling thread, which must be the one that calls receive().
  virtual void bind_to_current_thread() {}
};

// The real notifier over a seccomp listener descriptor. The loop thread blocks in
// SECCOMP_IOCTL_NOTIF_RECV; wake() interrupts it with a signal (see install_wake_handler).
class SeccompNotifier final : public Notifier {
 public:
  explicit SeccompNotifier(UniqueFd fd);

  // Asks the kernel to wake the target and the gateway on the same CPU (Linux 6.6); returns
  // whether the kernel supports it.
  bool enable_sync_wake_up();
  void bind_to_current_thread() override;

  ReceiveResult receive(seccomp_notif& notification) override;
  bool valid(std::uint64_t id) override;
  bool respond(std::uint64_t id, std::int64_t value, int error) override;
  bool respond_continue(std::uint64_t id) override;
  int install_fd(std::uint64_t id, int fd, int target_fd, bool cloexec) override;
  void wake() override;

  int fd() const { return fd_.get(); }

 private:
  bool hung_up() const;

  UniqueFd fd_;
  unsigned long thread_ = 0;
  bool woken_ = false;
};

// The signal that wake() sends to a loop thread. Its handler does nothing; it is installed
// without SA_RESTART so that the blocking ioctl returns EINTR.
int wake_signal();
void install_wake_handler();

}  // namespace sockgate
