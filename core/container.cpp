#include "core/container.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <string>

#include "core/gateway.hpp"
#include "core/kernel.hpp"
#include "core/log.hpp"

namespace sockgate {
namespace {

bool in_prefix(const rules::IpAddress& address, const char* network, unsigned length) {
  return IpPrefix{*rules::IpAddress::parse(network), length}.contains(address);
}

// Destinations that are never the host's to reach for a container: its loopback and "this
// host", multicast and broadcast, and IPv6 link-local addresses, which name its own links.
bool always_local(const rules::IpAddress& address) {
  if (address.is_v4()) {
    return in_prefix(address, "127.0.0.0", 104) || in_prefix(address, "0.0.0.0", 104) ||
           in_prefix(address, "224.0.0.0", 100) || in_prefix(address, "255.255.255.255", 128);
  }
  return address == rules::IpAddress{} || in_prefix(address, "::1", 128) ||
         in_prefix(address, "ff00::", 8) || in_prefix(address, "fe80::", 10);
}

bool loopback_or_unspecified(const rules::IpAddress& address) {
  if (address.is_v4()) {
    return in_prefix(address, "127.0.0.0", 104) || in_prefix(address, "0.0.0.0", 128);
  }
  return address == rules::IpAddress{} || in_prefix(address, "::1", 128);
}

// The thread group (process) id of thread `tid`, from /proc/TID/status; `tid` when unknown.
pid_t thread_group_of(pid_t tid) {
  std::ifstream status("/proc/" + std::to_string(tid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Tgid:", 0) == 0) {
      return static_cast<pid_t>(std::stol(line.substr(5)));
    }
  }
  return tid;
}

}  // namespace

Container::Container(Gateway& gateway, ContainerInfo info, UniqueFd pidfd, NetnsState netns,
                     std::unique_ptr<Notifier> notifier)
    : gateway_(gateway),
      info_(std::move(info)),
      pidfd_(std::move(pidfd)),
      netns_(std::move(netns)),
      notifier_(std::move(notifier)) {
  refresh_addresses();
}

Container::~Container() { stop(); }

void Container::start() {
  loop_ = std::thread([this] { run_loop(); });
}

void Container::stop() {
  stopped_ = true;
  if (!loop_.joinable()) {
    return;
  }
  if (loop_.get_id() == std::this_thread::get_id()) {
    loop_.detach();
    return;
  }
  // A wake signal that lands just before the loop blocks in the ioctl is lost; repeat it until
  // the loop has seen the flag.
  for (int attempt = 0; attempt < 200; ++attempt) {
    notifier_->wake();
    if (loop_finished_.load()) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  loop_.join();
}

bool Container::is_local(const rules::IpAddress& address) const {
  if (always_local(address)) {
    return true;
  }
  std::shared_ptr<const std::vector<IpPrefix>> prefixes;
  {
    std::lock_guard lock(mutex_);
    prefixes = prefixes_;
  }
  return std::any_of(prefixes->begin(), prefixes->end(),
                     [&](const IpPrefix& prefix) { return prefix.contains(address); });
}

bool Container::is_own_address(const rules::IpAddress& address) const {
  if (loopback_or_unspecified(address)) {
    return true;
  }
  std::shared_ptr<const std::vector<IpPrefix>> prefixes;
  {
    std::lock_guard lock(mutex_);
    prefixes = prefixes_;
  }
  return std::any_of(prefixes->begin(), prefixes->end(), [&](const IpPrefix& prefix) {
    return prefix.length == 128 && prefix.network == address;
  });
}

void Container::refresh_addresses() {
  auto prefixes = std::make_shared<std::vector<IpPrefix>>();
  if (netns_.route_dump) {
    try {
      *prefixes = dump_interface_prefixes(netns_.route_dump.get());
    } catch (const std::system_error& error) {
      log().warn("container {}: cannot read its interface addresses: {}", info_.id,
                 error.what());
      gateway_.count_error(metrics::ErrorKind::sock_diag);
    }
  }
  std::lock_guard lock(mutex_);
  prefixes_ = std::move(prefixes);
}

void Container::add_published(PublishedPort port) {
  std::lock_guard lock(mutex_);
  std::erase_if(published_, [&](const PublishedPort& old) {
    return old.protocol == port.protocol && old.container_port == port.container_port;
  });
  published_.push_back(port);
}

std::optional<PublishedPort> Container::find_published(rules::Protocol protocol,
                                                       std::uint16_t port) {
  std::lock_guard lock(mutex_);
  for (const PublishedPort& published : published_) {
    if (published.protocol == protocol && published.container_port == port) {
      return published;
    }
  }
  return std::nullopt;
}

void Container::remove_published(std::uint64_t cookie) {
  std::lock_guard lock(mutex_);
  std::erase_if(published_, [&](const PublishedPort& port) { return port.cookie == cookie; });
}

std::vector<PublishedPort> Container::published() const {
  std::lock_guard lock(mutex_);
  return published_;
}

std::shared_ptr<InFlightCall> Container::begin_in_flight(std::uint64_t notification, pid_t tid,
                                                         std::uint64_t socket_cookie,
                                                         bool bypass) {
  auto call = std::make_shared<InFlightCall>();
  call->notification = notification;
  call->tid = tid;
  call->socket_cookie = socket_cookie;
  call->bypass = bypass;
  std::lock_guard lock(mutex_);
  in_flight_.push_back(call);
  if (bypass) {
    ++pending_bypasses_;
  }
  return call;
}

JoinResult Container::join_in_flight(int socket_fd, InFlightCall::Caller caller, bool blocking) {
  if (pending_bypasses_.load() == 0) {
    return JoinResult::none;
  }
  std::uint64_t cookie = socket_cookie(socket_fd);
  std::lock_guard lock(mutex_);
  for (const auto& call : in_flight_) {
    if (!call->bypass || call->done || call->socket_cookie != cookie) {
      continue;
    }
    if (!notifier_->valid(call->notification)) {
      // The caller was interrupted and this is its restarted call, or another thread's.
      call->notification = caller.notification;
      call->tid = caller.tid;
      call->original = false;
      return JoinResult::joined;
    }
    if (!blocking) {
      return JoinResult::already;
    }
    call->waiters.push_back(caller);
    return JoinResult::joined;
  }
  return JoinResult::none;
}

void Container::set_in_flight_worker(InFlightCall& call, pthread_t worker) {
  std::lock_guard lock(mutex_);
  call.worker = worker;
}

bool Container::abandon_if_gone(const std::shared_ptr<InFlightCall>& call) {
  std::lock_guard lock(mutex_);
  if (notifier_->valid(call->notification)) {
    return false;
  }
  std::erase_if(call->waiters, [&](const InFlightCall::Caller& waiter) {
    return !notifier_->valid(waiter.notification);
  });
  if (!call->waiters.empty()) {
    call->notification = call->waiters.front().notification;
    call->tid = call->waiters.front().tid;
    call->original = false;
    call->waiters.erase(call->waiters.begin());
    return false;
  }
  call->done = true;
  in_flight_.remove(call);
  if (call->bypass) {
    --pending_bypasses_;
  }
  return true;
}

std::uint64_t Container::finish_in_flight(const std::shared_ptr<InFlightCall>& call) {
  std::lock_guard lock(mutex_);
  if (!call->done) {
    call->done = true;
    in_flight_.remove(call);
    if (call->bypass) {
      --pending_bypasses_;
    }
  }
  return call->notification;
}

void Container::interrupt_abandoned_calls() {
  std::lock_guard lock(mutex_);
  for (const auto& call : in_flight_) {
    if (call->bypass || call->done || call->interrupted || call->worker == pthread_t{}) {
      continue;
    }
    if (!notifier_->valid(call->notification)) {
      // The worker is blocked in connect() on the target's socket; the signal makes it return
      // EINTR. The kernel goes on connecting in the background, as it does for the target.
      ::pthread_kill(call->worker, wake_signal());
      call->interrupted = true;
    }
  }
}

std::shared_ptr<const UniqueFd> Container::thread_pidfd(pid_t tid, int& error) {
  std::lock_guard lock(pidfd_mutex_);
  if (auto found = thread_pidfds_.find(tid); found != thread_pidfds_.end()) {
    return found->second;
  }
  int pidfd = pidfd_open(tid, true);
  if (pidfd == -EINVAL) {
    // Kernels before 6.9 have no thread pidfds. The thread group's pidfd reaches the same
    // descriptor table; /proc names the group of a thread that is not its leader.
    pidfd = pidfd_open(thread_group_of(tid), false);
  }
  if (pidfd < 0) {
    error = pidfd;
    return nullptr;
  }
  // A bound for threads that appear faster than the housekeeping prunes the exited ones.
  constexpr std::size_t kMaxCachedThreads = 4096;
  if (thread_pidfds_.size() >= kMaxCachedThreads) {
    thread_pidfds_.clear();
  }
  auto shared = std::make_shared<const UniqueFd>(pidfd);
  thread_pidfds_.emplace(tid, shared);
  return shared;
}

void Container::forget_thread(pid_t tid) {
  std::lock_guard lock(pidfd_mutex_);
  thread_pidfds_.erase(tid);
}

void Container::prune_caches() {
  std::vector<pid_t> exited;
  {
    std::lock_guard lock(pidfd_mutex_);
    for (auto it = thread_pidfds_.begin(); it != thread_pidfds_.end();) {
      // A pidfd turns readable when its thread (or, without thread pidfds, its process) ends.
      pollfd entry{it->second->get(), POLLIN, 0};
      if (::poll(&entry, 1, 0) > 0) {
        exited.push_back(it->first);
        it = thread_pidfds_.erase(it);
      } else {
        ++it;
      }
    }
  }
  std::lock_guard lock(fdinfo_mutex_);
  char text[512];
  for (auto it = fdinfo_files_.begin(); it != fdinfo_files_.end();) {
    bool gone = std::find(exited.begin(), exited.end(), it->first.first) != exited.end() ||
                ::pread(it->second.get(), text, sizeof text, 0) <= 0;
    it = gone ? fdinfo_files_.erase(it) : std::next(it);
  }
}

std::optional<RemoteDescriptor> Container::describe_descriptor(pid_t tid, int fd) {
  std::lock_guard lock(fdinfo_mutex_);
  auto key = std::make_pair(tid, fd);
  char text[512];
  for (int attempt = 0; attempt < 2; ++attempt) {
    auto found = fdinfo_files_.find(key);
    if (found == fdinfo_files_.end()) {
      // Descriptors come and go; past this many, start over rather than track which closed.
      constexpr std::size_t kMaxCachedFiles = 4096;
      if (fdinfo_files_.size() >= kMaxCachedFiles) {
        fdinfo_files_.clear();
      }
      std::string path = "/proc/" + std::to_string(tid) + "/fdinfo/" + std::to_string(fd);
      UniqueFd file(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
      if (!file) {
        return std::nullopt;
      }
      found = fdinfo_files_.emplace(key, std::move(file)).first;
    }
    ssize_t length = ::pread(found->second.get(), text, sizeof text - 1, 0);
    if (length > 0) {
      return parse_fdinfo(std::string_view(text, static_cast<std::size_t>(length)));
    }
    // Closed since, or a thread id now reused: an open fdinfo file does not follow either.
    fdinfo_files_.erase(found);
  }
  return std::nullopt;
}

const rules::Subject& Container::subject(const rules::Policy& policy, std::uint64_t generation) {
  if (generation != subject_generation_) {
    subject_ = policy.subject(info_.labels);
    subject_generation_ = generation;
  }
  return subject_;
}

}  // namespace sockgate
