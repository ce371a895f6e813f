// The gateway: the live policy, the attached containers, and the housekeeping thread.
//
// Design note for core/. The core owns everything that touches the kernel: the seccomp filter
// and the notification loops (container.cpp, notification_loop.cpp), reading a target's memory
// and descriptors, switching sockets (switcher.cpp), the network namespace of `run`
// (run.cpp, fallback_network.cpp), and the command-line entry point. It asks `rules/` for
// decisions through rules::Policy and reports to `metrics/`; neither knows about the kernel.
//
// Threads: one notification loop per container, blocked in SECCOMP_IOCTL_NOTIF_RECV; workers for
// connects on blocking sockets (worker_pool.hpp); one housekeeping thread here that watches
// every container's listener for its end, address changes in the containers, and a one-second
// tick for calls whose target went away. Reload builds the next policy beside the live one and
// swaps it atomically; a notification uses the policy it loaded when it started.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/call.hpp"
#include "core/container.hpp"
#include "core/worker_pool.hpp"
#include "metrics/metrics.hpp"
#include "rules/policy.hpp"

namespace sockgate {

// A compiled policy, or the reasons there is none (formatted diagnostics).
struct LoadedPolicy {
  std::shared_ptr<const rules::Policy> policy;
  std::vector<std::string> errors;
  std::vector<std::string> warnings;
};

// Builds the policy from the configured sources; called at start and on every reload.
using PolicyLoader = std::function<LoadedPolicy()>;

// The live policy with what was resolved for it when it was installed.
struct ActivePolicy {
  std::shared_ptr<const rules::Policy> policy;
  std::shared_ptr<const metrics::RuleSeries> series;
  std::uint64_t generation = 0;
};

struct GatewayOptions {
  PolicyLoader load_policy;
  // Empty: no exposer.
  std::string metrics_address;
  // When the address cannot be served: true logs a warning and goes on without metrics (the
  // default address of `run`, which several commands may want at once); false fails.
  bool metrics_optional = false;
};

class Gateway {
 public:
  // Loads the policy; throws std::runtime_error with the formatted errors when it is invalid.
  explicit Gateway(GatewayOptions options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Starts serving a container whose seccomp listener is `notify_fd`. Throws
  // std::system_error when the container's namespaces cannot be reached.
  std::shared_ptr<Container> attach(ContainerInfo info, UniqueFd notify_fd);
  // Stops serving a container and releases its state.
  void detach(const std::shared_ptr<Container>& container);
  // Rebuilds the policy; on error the old one stays. Returns whether the new one is live; the
  // errors go to the log and, when `errors` is given, there too.
  bool reload(std::vector<std::string>* errors = nullptr);
  // Stops every container and the housekeeping thread.
  void stop();

  std::shared_ptr<const ActivePolicy> policy() const { return active_.load(); }
  std::uint64_t host_netns_cookie() const { return host_netns_cookie_; }
  WorkerPool& workers() { return workers_; }
  metrics::Metrics& metrics() { return *metrics_; }
  // HOST:PORT of the exposer, with the port it got when asked for port 0.
  std::string metrics_address() const;
  std::vector<std::shared_ptr<Container>> containers() const;
  // Called by a container's loop when its listener hung up; the housekeeping thread detaches it.
  void container_ended(const std::shared_ptr<Container>& container);

  // Closes a socket later, off the notification path: the container's own socket after the
  // switch replaced it. Its last close tears it down, which costs several microseconds that
  // the target would otherwise wait for, because it runs on this CPU next. Only for sockets
  // that nothing uses any more and whose release nobody observes.
  void close_later(UniqueFd socket);

  // Reports for the decision path (metrics and the debug log).
  void record_decision(const Call& call, rules::Action applied);
  // A bypassed socket was installed, or a TCP connect was passed on the container's socket:
  // its bytes count towards the call's rule.
  void socket_installed(const Call& call, int host_socket);
  void socket_passed(const Call& call);
  void response_sent(const Call& call);
  void count_error(metrics::ErrorKind kind);
  std::string rule_name(const Call& call) const;

 private:
  void install_policy(LoadedPolicy loaded);
  void close_pending();
  void run_housekeeping();
  void watch(int fd, std::uint32_t events, std::function<void()> callback);
  void unwatch(int fd);

  GatewayOptions options_;
  std::unique_ptr<metrics::Metrics> metrics_;
  std::atomic<std::shared_ptr<const ActivePolicy>> active_;
  std::atomic<std::uint64_t> generation_{0};
  std::mutex reload_mutex_;
  std::uint64_t host_netns_cookie_ = 0;
  std::shared_ptr<metrics::TcpSource> host_source_;
  WorkerPool workers_;

  mutable std::mutex mutex_;
  std::map<Container*, std::shared_ptr<Container>> containers_;
  std::map<int, std::function<void()>> watches_;
  std::vector<std::shared_ptr<Container>> ended_;
  std::mutex closing_mutex_;
  std::vector<UniqueFd> closing_;
  UniqueFd epoll_;
  UniqueFd wake_;
  std::thread housekeeping_;
  std::atomic<bool> stopping_{false};
};

}  // namespace sockgate
