#include "core/gateway.hpp"

#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <linux/netlink.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <fmt/format.h>

#include "core/call.hpp"
#include "core/kernel.hpp"
#include "core/log.hpp"

namespace sockgate {
namespace {

// Sockets that close_later collects before a worker closes them together.
constexpr std::size_t kCloseBatch = 64;

// The sockets the gateway needs inside each container's network namespace, in this order.
enum InsideSocket {
  kRouteDump,
  kRouteEvents,
  kSockDiag,
  kMetricsQuery,
  kMetricsDestroy,
  kTcp4,
  kTcp6,
  kUdp4,
  kUdp6,
  kCount
};

constexpr SocketRequest kInsideSockets[kCount] = {
    {AF_NETLINK, SOCK_RAW, NETLINK_ROUTE},     {AF_NETLINK, SOCK_RAW, NETLINK_ROUTE},
    {AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG}, {AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG},
    {AF_NETLINK, SOCK_RAW, NETLINK_SOCK_DIAG}, {AF_INET, SOCK_STREAM, IPPROTO_TCP},
    {AF_INET6, SOCK_STREAM, IPPROTO_TCP},      {AF_INET, SOCK_DGRAM, IPPROTO_UDP},
    {AF_INET6, SOCK_DGRAM, IPPROTO_UDP},
};

// Reads what the gateway needs of a container's network namespace from sockets made inside it.
NetnsState inspect_container_netns(int pidfd, metrics::Metrics& metrics) {
  std::vector<UniqueFd> inside = open_sockets_in_netns(pidfd, kInsideSockets);
  NetnsState netns;
  netns.cookie = netns_cookie(inside[kTcp4].get());
  if (netns.cookie == 0) {
    throw errno_error(ENOPROTOOPT, "SO_NETNS_COOKIE (Linux 5.14) is not available");
  }
  netns.option_defaults[static_cast<std::size_t>(SocketKind::tcp4)] =
      read_socket_options(inside[kTcp4].get(), SocketKind::tcp4);
  netns.option_defaults[static_cast<std::size_t>(SocketKind::tcp6)] =
      read_socket_options(inside[kTcp6].get(), SocketKind::tcp6);
  netns.option_defaults[static_cast<std::size_t>(SocketKind::udp4)] =
      read_socket_options(inside[kUdp4].get(), SocketKind::udp4);
  netns.option_defaults[static_cast<std::size_t>(SocketKind::udp6)] =
      read_socket_options(inside[kUdp6].get(), SocketKind::udp6);
  subscribe_address_changes(inside[kRouteEvents].get());
  netns.route_dump = std::move(inside[kRouteDump]);
  netns.route_events = std::move(inside[kRouteEvents]);
  netns.sock_diag = std::move(inside[kSockDiag]);
  try {
    netns.tcp_source = metrics.adopt_source(inside[kMetricsQuery].release(),
                                            inside[kMetricsDestroy].release());
  } catch (const std::system_error& error) {
    log().warn("no byte counts for passed connections: {}", error.what());
  }
  return netns;
}

std::uint64_t own_netns_cookie() {
  UniqueFd probe(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (!probe) {
    throw_errno("socket");
  }
  std::uint64_t cookie = netns_cookie(probe.get());
  if (cookie == 0) {
    throw errno_error(ENOPROTOOPT, "SO_NETNS_COOKIE (Linux 5.14) is not available");
  }
  return cookie;
}

std::vector<metrics::RuleLabels> rule_labels(const rules::Policy& policy) {
  std::vector<metrics::RuleLabels> labels;
  for (const rules::RuleInfo& rule : policy.rules()) {
    labels.push_back({rule.name, rule.action, rule.matches_connect, rule.matches_bind});
  }
  return labels;
}

}  // namespace

Gateway::Gateway(GatewayOptions options)
    : options_(std::move(options)),
      metrics_(std::make_unique<metrics::Metrics>()),
      host_netns_cookie_(own_netns_cookie()) {
  LoadedPolicy loaded = options_.load_policy();
  for (const std::string& warning : loaded.warnings) {
    log().warn("{}", warning);
  }
  if (!loaded.policy) {
    std::string message;
    for (const std::string& error : loaded.errors) {
      message += error;
    }
    throw std::runtime_error(message);
  }
  install_policy(std::move(loaded));
  try {
    host_source_ = metrics_->open_host_source();
  } catch (const std::system_error& error) {
    log().warn("no byte counts for bypassed sockets: {}", error.what());
  }
  if (!options_.metrics_address.empty()) {
    try {
      metrics_->serve(options_.metrics_address);
    } catch (const metrics::MetricsError& error) {
      if (!options_.metrics_optional) {
        throw;
      }
      log().warn("{}; going on without metrics", error.what());
    }
  }
  install_wake_handler();
  epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
  wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!epoll_ || !wake_) {
    throw_errno("epoll_create1/eventfd");
  }
  housekeeping_ = std::thread([this] { run_housekeeping(); });
}

Gateway::~Gateway() { stop(); }

void Gateway::install_policy(LoadedPolicy loaded) {
  auto active = std::make_shared<ActivePolicy>();
  active->policy = std::move(loaded.policy);
  auto labels = rule_labels(*active->policy);
  active->series = metrics_->bind_rules(labels, active->policy->default_action());
  active->generation = ++generation_;
  active_.store(std::move(active));
}

bool Gateway::reload(std::vector<std::string>* errors) {
  std::lock_guard lock(reload_mutex_);
  LoadedPolicy loaded;
  try {
    loaded = options_.load_policy();
  } catch (const std::exception& error) {
    loaded.errors.push_back(error.what());
  }
  for (const std::string& warning : loaded.warnings) {
    log().warn("reload: {}", warning);
  }
  if (!loaded.policy) {
    for (const std::string& error : loaded.errors) {
      log().error("reload failed, the previous policy stays: {}", error);
    }
    if (errors != nullptr) {
      *errors = loaded.errors;
    }
    metrics_->count_reload(metrics::ReloadResult::failure);
    return false;
  }
  std::size_t rules = loaded.policy->rules().size();
  install_policy(std::move(loaded));
  metrics_->count_reload(metrics::ReloadResult::success);
  log().info("reloaded the policy: {} rules", rules);
  return true;
}

std::shared_ptr<Container> Gateway::attach(ContainerInfo info, UniqueFd notify_fd) {
  UniqueFd pidfd(pidfd_open(info.pid, false));
  if (!pidfd) {
    throw errno_error(-pidfd.get(), fmt::format("pidfd_open({})", info.pid));
  }
  NetnsState netns = inspect_container_netns(pidfd.get(), *metrics_);
  auto notifier = std::make_unique<SeccompNotifier>(std::move(notify_fd));
  bool sync = notifier->enable_sync_wake_up();
  info.labels.set("id", info.id);
  auto container = std::make_shared<Container>(*this, std::move(info), std::move(pidfd),
                                               std::move(netns), std::move(notifier));
  int route_events = container->route_events_fd();
  std::weak_ptr<Container> weak = container;
  watch(route_events, EPOLLIN, [weak, route_events] {
    if (auto alive = weak.lock(); alive && drain_route_notifications(route_events)) {
      alive->refresh_addresses();
    }
  });
  {
    std::lock_guard lock(mutex_);
    containers_[container.get()] = container;
  }
  metrics_->add_containers(1);
  container->start();
  log().info("container {} attached: pid {}, synchronous wake-up {}", container->info().id,
             container->info().pid, sync ? "on" : "not supported by this kernel");
  return container;
}

void Gateway::detach(const std::shared_ptr<Container>& container) {
  unwatch(container->route_events_fd());
  container->stop();
  std::lock_guard lock(mutex_);
  if (containers_.erase(container.get()) > 0) {
    metrics_->add_containers(-1);
    log().info("container {} detached", container->info().id);
  }
}

void Gateway::container_ended(const std::shared_ptr<Container>& container) {
  std::lock_guard lock(mutex_);
  ended_.push_back(container);
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_.get(), &one, sizeof one);
}

std::vector<std::shared_ptr<Container>> Gateway::containers() const {
  std::lock_guard lock(mutex_);
  std::vector<std::shared_ptr<Container>> result;
  for (const auto& [key, container] : containers_) {
    result.push_back(container);
  }
  return result;
}

void Gateway::stop() {
  if (stopping_.exchange(true)) {
    return;
  }
  std::uint64_t one = 1;
  [[maybe_unused]] auto written = ::write(wake_.get(), &one, sizeof one);
  if (housekeeping_.joinable()) {
    housekeeping_.join();
  }
  for (const auto& container : containers()) {
    container->stop();
  }
  std::lock_guard lock(mutex_);
  containers_.clear();
}

void Gateway::watch(int fd, std::uint32_t events, std::function<void()> callback) {
  std::lock_guard lock(mutex_);
  watches_[fd] = std::move(callback);
  epoll_event event{};
  event.events = events;
  event.data.fd = fd;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event);
}

void Gateway::unwatch(int fd) {
  std::lock_guard lock(mutex_);
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, fd, nullptr);
  watches_.erase(fd);
}

void Gateway::run_housekeeping() {
  UniqueFd tick(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
  itimerspec second{{1, 0}, {1, 0}};
  ::timerfd_settime(tick.get(), 0, &second, nullptr);
  for (int fd : {tick.get(), wake_.get()}) {
    epoll_event event{};
    event.events = EPOLLIN;
    event.data.fd = fd;
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event);
  }
  while (!stopping_) {
    epoll_event events[16];
    int count = ::epoll_wait(epoll_.get(), events, 16, -1);
    for (int i = 0; i < count; ++i) {
      int fd = events[i].data.fd;
      std::uint64_t value = 0;
      if (fd == tick.get() || fd == wake_.get()) {
        [[maybe_unused]] auto read = ::read(fd, &value, sizeof value);
      }
      if (fd == tick.get()) {
        for (const auto& container : containers()) {
          container->interrupt_abandoned_calls();
          container->prune_caches();
        }
        close_pending();
      } else if (fd == wake_.get()) {
        std::vector<std::shared_ptr<Container>> ended;
        {
          std::lock_guard lock(mutex_);
          ended.swap(ended_);
        }
        for (const auto& container : ended) {
          detach(container);
        }
      } else {
        std::function<void()> callback;
        {
          std::lock_guard lock(mutex_);
          if (auto found = watches_.find(fd); found != watches_.end()) {
            callback = found->second;
          }
        }
        if (callback) {
          callback();
        }
      }
    }
  }
}

void Gateway::record_decision(const Call& call, rules::Action applied) {
  call.policy->series->count_decision(call.decision.rule, call.event->operation, applied);
  if (log().should_log(spdlog::level::debug)) {
    std::string rule = rule_name(call);
    if (applied != call.decision.action) {
      rule += fmt::format(", which says {}", rules::to_string(call.decision.action));
    }
    log().debug("container {} pid {} fd {}: {} {} {} -> {} (rule {})", call.container->info().id,
                call.tid, call.call.fd, rules::to_string(call.event->operation),
                rules::to_string(call.event->protocol), call.address.to_string(),
                rules::to_string(applied), rule);
  }
}

std::string Gateway::rule_name(const Call& call) const {
  if (call.decision.rule == rules::kDefaultRule) {
    return "default";
  }
  auto rules = call.policy->policy->rules();
  return call.decision.rule < rules.size() ? rules[call.decision.rule].name : "?";
}

void Gateway::socket_installed(const Call& call, int host_socket) {
  if (call.type != SOCK_STREAM || !call.event || !host_source_) {
    return;
  }
  if (call.call.operation == rules::Operation::bind) {
    // accept() is not trapped: metrics find the listener's connections by its address.
    metrics_->track_listener(*host_source_, host_socket, *call.policy->series,
                             call.decision.rule);
    return;
  }
  metrics_->track_socket(*host_source_, socket_cookie(host_socket), *call.policy->series,
                         call.decision.rule);
}

void Gateway::socket_passed(const Call& call) {
  const metrics::TcpSource* source = call.container->tcp_source();
  if (call.type != SOCK_STREAM || !call.event || source == nullptr ||
      call.home != SocketHome::container || call.call.operation != rules::Operation::connect) {
    return;
  }
  metrics_->track_socket(*source, socket_cookie(call.socket.get()), *call.policy->series,
                         call.decision.rule);
}

void Gateway::response_sent(const Call& call) {
  metrics_->observe_notification(std::chrono::steady_clock::now() - call.started);
}

std::string Gateway::metrics_address() const {
  auto colon = options_.metrics_address.rfind(':');
  return fmt::format("{}:{}", options_.metrics_address.substr(0, colon), metrics_->port());
}

void Gateway::count_error(metrics::ErrorKind kind) { metrics_->count_error(kind); }

void Gateway::close_later(UniqueFd socket) {
  std::lock_guard lock(closing_mutex_);
  closing_.push_back(std::move(socket));
  if (closing_.size() >= kCloseBatch) {
    auto batch = std::make_shared<std::vector<UniqueFd>>(std::move(closing_));
    closing_.clear();
    workers_.submit([batch] { batch->clear(); });
  }
}

void Gateway::close_pending() {
  std::vector<UniqueFd> batch;
  std::lock_guard lock(closing_mutex_);
  batch.swap(closing_);
}

}  // namespace sockgate
