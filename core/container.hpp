// One attached container: its identity, what the gateway knows of its network namespace, the
// ports it published, and the notification loop that serves its seccomp listener.
#pragma once

#include <pthread.h>
#include <sys/types.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <list>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/fd.hpp"
#include "core/kernel.hpp"
#include "core/netns.hpp"
#include "core/notifier.hpp"
#include "core/socket_options.hpp"
#include "core/sockaddr.hpp"
#include "metrics/byte_accounting.hpp"
#include "rules/policy.hpp"
#include "rules/publish.hpp"

namespace sockgate {

class Gateway;

struct ContainerInfo {
  // The engine's container id, or "run-PID" for `sockgate run`.
  std::string id;
  // The container's first process, in the gateway's PID namespace.
  pid_t pid = 0;
  // Labels for the policy; `id` is added by the gateway.
  rules::LabelSet labels;
  // The profile's listenerMetadata; empty when unset.
  std::string metadata;
  // Ports this container publishes besides the policy's publish rules (from an engine's
  // annotations): a bind of the container port is bypassed to the host port unless a rule
  // denies it.
  std::vector<rules::PublishSpec> publishes;
};

// A bypassed bind: the container's port and the host socket that listens for it.
struct PublishedPort {
  rules::Protocol protocol = rules::Protocol::tcp;
  std::uint16_t container_port = 0;
  SocketAddress host;
  std::uint64_t cookie = 0;
};

// A call that waits in a worker (a connect on a blocking socket). `notification` is the one to
// respond to: a call restarted after a signal comes back as a new notification and replaces it.
struct InFlightCall {
  // A caller of connect(): its notification and thread.
  struct Caller {
    std::uint64_t notification = 0;
    pid_t tid = 0;
  };

  std::uint64_t notification = 0;
  // The thread of `notification`, whose descriptor table the result is installed in.
  pid_t tid = 0;
  // False once `notification` is a restarted call or a waiter that took the place of a caller
  // that is gone: the kernel returns EALREADY to such a call when SO_SNDTIMEO runs out.
  bool original = true;
  pthread_t worker{};
  // The container socket's cookie, for a bypass connect that a restarted call can join.
  std::uint64_t socket_cookie = 0;
  // Connects by other threads on the same socket while this one runs; the kernel makes them
  // wait for the same connection.
  std::vector<Caller> waiters;
  bool bypass = false;
  bool done = false;
  bool interrupted = false;
};

// The outcome of offering a connect() to a bypass in flight on the same socket.
enum class JoinResult {
  // No bypass is in flight for the socket.
  none,
  // The bypass's worker responds to it.
  joined,
  // A non-blocking connect beside a connect in progress: respond EALREADY at once.
  already,
};

// What the gateway learned of a container's network namespace when it attached.
struct NetnsState {
  std::uint64_t cookie = 0;
  std::array<OptionValues, kSocketKinds> option_defaults;
  UniqueFd route_dump;
  UniqueFd route_events;
  UniqueFd sock_diag;
  // Byte accounting of the container's own TCP sockets (passed connections); may be null.
  std::shared_ptr<metrics::TcpSource> tcp_source;
};

class Container : public std::enable_shared_from_this<Container> {
 public:
  Container(Gateway& gateway, ContainerInfo info, UniqueFd pidfd, NetnsState netns,
            std::unique_ptr<Notifier> notifier);
  ~Container();
  Container(const Container&) = delete;
  Container& operator=(const Container&) = delete;

  const ContainerInfo& info() const { return info_; }
  Gateway& gateway() { return gateway_; }
  Notifier& notifier() { return *notifier_; }
  int pidfd() const { return pidfd_.get(); }
  std::uint64_t netns_cookie() const { return netns_.cookie; }
  const OptionValues& option_defaults(SocketKind kind) const {
    return netns_.option_defaults[static_cast<std::size_t>(kind)];
  }
  int route_events_fd() const { return netns_.route_events.get(); }
  int sock_diag_fd() const { return netns_.sock_diag.get(); }
  const metrics::TcpSource* tcp_source() const { return netns_.tcp_source.get(); }

  // Starts the notification loop thread.
  void start();
  // Stops the loop and waits for it; in-flight calls in workers finish on their own.
  void stop();
  bool stopped() const { return stopped_.load(); }

  // Whether a bypass to `address` must become a pass: loopback, unspecified, multicast,
  // IPv6 link-local, and the container's interface addresses and subnets.
  bool is_local(const rules::IpAddress& address) const;
  // Whether `address` is the container itself: loopback, unspecified, an interface address.
  bool is_own_address(const rules::IpAddress& address) const;
  // Rereads the interface addresses after a change notification.
  void refresh_addresses();

  void add_published(PublishedPort port);
  std::optional<PublishedPort> find_published(rules::Protocol protocol, std::uint16_t port);
  void remove_published(std::uint64_t cookie);
  std::vector<PublishedPort> published() const;

  // In-flight calls, shared by the loop thread, the workers and the housekeeping timer.
  std::shared_ptr<InFlightCall> begin_in_flight(std::uint64_t notification, pid_t tid,
                                                std::uint64_t socket_cookie, bool bypass);
  // Hands a restarted connect to the bypass still connecting for the socket `socket_fd`, which
  // will respond to `notification` instead of the interrupted one. False when there is none.
  JoinResult join_in_flight(int socket_fd, InFlightCall::Caller caller, bool blocking);
  void set_in_flight_worker(InFlightCall& call, pthread_t worker);
  // Ends the call if its notification and those of its waiters are gone; returns whether it
  // did. A waiter whose caller still waits takes the place of a caller that is gone.
  bool abandon_if_gone(const std::shared_ptr<InFlightCall>& call);
  // Ends the call and returns the notification to respond to; no call can join it afterwards,
  // and its waiters are in `call->waiters`.
  std::uint64_t finish_in_flight(const std::shared_ptr<InFlightCall>& call);
  // Interrupts workers blocked in a connect whose notification is gone.
  void interrupt_abandoned_calls();

  // Returns a pidfd of thread `tid` of the container, opened on first use and kept, or
  // -errno when it cannot be opened. forget_thread drops it after the thread died.
  std::shared_ptr<const UniqueFd> thread_pidfd(pid_t tid, int& error);
  void forget_thread(pid_t tid);
  // Closes the cached pidfds of threads that exited and the fdinfo files of descriptors that
  // are closed, so the gateway keeps nothing open for processes that are gone.
  void prune_caches();

  // Descriptor `fd` of thread `tid` as its fdinfo shows it now; std::nullopt when it is
  // closed or the thread is gone. Opening an fdinfo file costs about 8 us here against 1.6 us
  // for rereading an open one, which shows the descriptor's current state, so the files stay
  // open per thread and descriptor number. Any thread may call it.
  std::optional<RemoteDescriptor> describe_descriptor(pid_t tid, int fd);

  // The policy subject for `generation`, recomputed after a reload. Loop thread only.
  const rules::Subject& subject(const rules::Policy& policy, std::uint64_t generation);

 private:
  void run_loop();

  Gateway& gateway_;
  ContainerInfo info_;
  UniqueFd pidfd_;
  NetnsState netns_;
  std::unique_ptr<Notifier> notifier_;
  std::thread loop_;
  std::atomic<bool> stopped_{false};
  std::atomic<bool> loop_finished_{false};

  mutable std::mutex mutex_;
  std::shared_ptr<const std::vector<IpPrefix>> prefixes_;
  std::vector<PublishedPort> published_;
  std::list<std::shared_ptr<InFlightCall>> in_flight_;
  std::atomic<int> pending_bypasses_{0};

  std::mutex pidfd_mutex_;
  std::unordered_map<pid_t, std::shared_ptr<const UniqueFd>> thread_pidfds_;
  std::mutex fdinfo_mutex_;
  std::map<std::pair<pid_t, int>, UniqueFd> fdinfo_files_;
  rules::Subject subject_;
  std::uint64_t subject_generation_ = 0;
};

}  // namespace sockgate
