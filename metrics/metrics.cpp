#include "metrics/metrics.hpp"

#include <netinet/in.h>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>

#include "metrics/log.hpp"

namespace sockgate::metrics {
namespace {

prometheus::Counter* add_counter(prometheus::Family<prometheus::Counter>& family,
                                 std::string_view label, std::string_view value) {
  return &family.Add({{std::string(label), std::string(value)}});
}

template <typename Builder>
auto& build(Builder builder, FamilyId id, prometheus::Registry& registry) {
  const FamilyInfo& info = family_info(id);
  return builder.Name(std::string(info.name)).Help(std::string(info.help)).Register(registry);
}

// Orders families as the table declares them and series by their label values, because
// prometheus-cpp keeps a family's series in a hash map.
void sort_families(std::vector<prometheus::MetricFamily>& families) {
  std::stable_sort(families.begin(), families.end(), [](const auto& left, const auto& right) {
    return family_index(left.name) < family_index(right.name);
  });
}

void sort_series(std::vector<prometheus::MetricFamily>& families) {
  const auto by_labels = [](const prometheus::ClientMetric& left,
                            const prometheus::ClientMetric& right) {
    return std::lexicographical_compare(
        left.label.begin(), left.label.end(), right.label.begin(), right.label.end(),
        [](const auto& a, const auto& b) { return a.value < b.value; });
  };
  for (auto& family : families) {
    std::sort(family.metric.begin(), family.metric.end(), by_labels);
  }
}

std::uint64_t value_of(const prometheus::Counter* counter) {
  return static_cast<std::uint64_t>(counter->Value());
}

}  // namespace

struct Metrics::Impl {
  std::shared_ptr<prometheus::Registry> registry = std::make_shared<prometheus::Registry>();
  std::array<prometheus::Counter*, 3> decisions{};
  prometheus::Histogram* notification_duration = nullptr;
  prometheus::Gauge* containers = nullptr;
  prometheus::Counter* reloads_succeeded = nullptr;
  prometheus::Counter* reloads_failed = nullptr;
  prometheus::Gauge* policy_rules = nullptr;
  std::array<prometheus::Counter*, kErrorKindCount> errors{};
  std::unique_ptr<RuleBook> book;
  std::unique_ptr<ByteAccounting> accounting;

  Impl();
  std::vector<prometheus::MetricFamily> collect();
};

Metrics::Impl::Impl() {
  auto& decision_family = build(prometheus::BuildCounter(), FamilyId::decisions, *registry);
  for (const rules::Action action : kActions) {
    decisions[static_cast<std::size_t>(action)] =
        add_counter(decision_family, "action", to_label(action));
  }

  auto& duration_family =
      build(prometheus::BuildHistogram(), FamilyId::notification_duration, *registry);
  const auto buckets = notification_buckets();
  notification_duration = &duration_family.Add(
      {}, prometheus::Histogram::BucketBoundaries(buckets.begin(), buckets.end()));

  containers = &build(prometheus::BuildGauge(), FamilyId::containers, *registry).Add({});

  auto& reload_family = build(prometheus::BuildCounter(), FamilyId::policy_reloads, *registry);
  reloads_succeeded = add_counter(reload_family, "result", "success");
  reloads_failed = add_counter(reload_family, "result", "failure");

  policy_rules = &build(prometheus::BuildGauge(), FamilyId::policy_rules, *registry).Add({});

  auto& error_family = build(prometheus::BuildCounter(), FamilyId::errors, *registry);
  for (std::size_t kind = 0; kind < kErrorKindCount; ++kind) {
    errors[kind] = add_counter(error_family, "kind", to_label(static_cast<ErrorKind>(kind)));
  }

  book = std::make_unique<RuleBook>(decisions, registry);
  accounting = std::make_unique<ByteAccounting>([this](ErrorKind kind, std::uint64_t count) {
    errors[static_cast<std::size_t>(kind)]->Increment(static_cast<double>(count));
  });
}

std::vector<prometheus::MetricFamily> Metrics::Impl::collect() {
  accounting->refresh();
  auto families = registry->Collect();
  sort_series(families);
  for (auto& family : book->collect()) {
    families.push_back(std::move(family));
  }
  sort_families(families);
  return families;
}

// Serves Metrics::collect to the exposer. Exceptions must not reach civetweb's threads.
class MetricsCollector : public prometheus::Collectable {
 public:
  explicit MetricsCollector(std::weak_ptr<Metrics::Impl> impl) : impl_(std::move(impl)) {}

  std::vector<prometheus::MetricFamily> Collect() const override {
    const auto impl = impl_.lock();
    if (impl == nullptr) {
      return {};
    }
    try {
      return impl->collect();
    } catch (const std::exception& error) {
      log().error("collecting metrics for a scrape failed: {}", error.what());
      return {};
    }
  }

 private:
  std::weak_ptr<Metrics::Impl> impl_;
};

Metrics::Metrics()
    : impl_(std::make_shared<Impl>()), collector_(std::make_shared<MetricsCollector>(impl_)) {}

Metrics::~Metrics() {
  // Stop the HTTP threads before the state they read goes away.
  exposer_.reset();
}

void Metrics::serve(std::string_view address) {
  exposer_ = std::make_unique<MetricsExposer>(address, collector_);
  log().info("serving metrics at http://{}:{}{}", exposer_->host(), exposer_->port(), kMetricsPath);
}

std::uint16_t Metrics::port() const {
  return exposer_ == nullptr ? 0 : exposer_->port();
}

std::shared_ptr<const RuleSeries> Metrics::bind_rules(std::span<const RuleLabels> rules,
                                                      rules::Action default_action) {
  auto series = impl_->book->bind(rules, default_action);
  impl_->policy_rules->Set(static_cast<double>(rules.size()));
  return series;
}

void Metrics::observe_notification(std::chrono::nanoseconds duration) noexcept {
  impl_->notification_duration->Observe(std::chrono::duration<double>(duration).count());
}

void Metrics::add_containers(std::int64_t delta) noexcept {
  impl_->containers->Increment(static_cast<double>(delta));
}

void Metrics::count_reload(ReloadResult result) noexcept {
  (result == ReloadResult::success ? impl_->reloads_succeeded : impl_->reloads_failed)->Increment();
}

void Metrics::count_error(ErrorKind kind, std::uint64_t count) noexcept {
  impl_->errors[static_cast<std::size_t>(kind)]->Increment(static_cast<double>(count));
}

std::shared_ptr<TcpSource> Metrics::open_host_source() {
  return impl_->accounting->add_source(SockDiagSource::open_current());
}

std::shared_ptr<TcpSource> Metrics::adopt_source(int query_fd, int destroy_fd) {
  return impl_->accounting->add_source(SockDiagSource::adopt(query_fd, destroy_fd));
}

void Metrics::track_socket(const TcpSource& source, std::uint64_t cookie, const RuleSeries& series,
                           std::uint32_t rule, Opening opening) {
  const RuleSeries::Slot* slot = series.slot(rule);
  if (slot == nullptr) {
    return;
  }
  impl_->accounting->track(source, cookie, slot->traffic, opening);
}

bool Metrics::track_listener(const TcpSource& source, int fd, const RuleSeries& series,
                             std::uint32_t rule) {
  std::uint64_t cookie = 0;
  socklen_t length = sizeof cookie;
  int protocol = 0;
  socklen_t protocol_length = sizeof protocol;
  LocalAddress local;
  if (getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &protocol, &protocol_length) != 0 ||
      getsockopt(fd, SOL_SOCKET, SO_COOKIE, &cookie, &length) != 0 ||
      !read_local_address(fd, local)) {
    log().warn("cannot count the bytes of connections accepted on descriptor {}: {}", fd,
               std::strerror(errno));
    return false;
  }
  if (protocol != IPPROTO_TCP) {
    log().warn("cannot count the bytes of connections accepted on descriptor {}: not TCP", fd);
    return false;
  }
  const RuleSeries::Slot* slot = series.slot(rule);
  if (slot != nullptr) {
    impl_->accounting->track_listener(source, cookie, local, slot->traffic);
  }
  return true;
}

std::vector<prometheus::MetricFamily> Metrics::collect() {
  return impl_->collect();
}

std::string Metrics::text() {
  return prometheus::TextSerializer().Serialize(collect());
}

Snapshot Metrics::snapshot(std::shared_ptr<const RuleSeries> series) {
  impl_->accounting->refresh();
  Snapshot result;
  if (!series) {
    series = impl_->book->current();
  }
  if (series) {
    for (const RuleSeries::Slot& slot : series->slots()) {
      RuleSnapshot rule{slot.name, slot.action, slot.matches_connect, slot.matches_bind};
      rule.connect_matches = slot.matches->connect.load(std::memory_order_relaxed);
      rule.bind_matches = slot.matches->bind.load(std::memory_order_relaxed);
      if (slot.traffic != nullptr) {
        rule.counts_traffic = true;
        rule.bytes_sent = slot.traffic->sent.load(std::memory_order_relaxed);
        rule.bytes_received = slot.traffic->received.load(std::memory_order_relaxed);
        rule.open_sockets = slot.traffic->open_sockets.load(std::memory_order_relaxed);
      }
      result.rules.push_back(std::move(rule));
    }
  }
  for (std::size_t i = 0; i < result.decisions.size(); ++i) {
    result.decisions[i] = value_of(impl_->decisions[i]);
  }
  result.containers = static_cast<std::int64_t>(impl_->containers->Value());
  result.policy_rules = static_cast<std::int64_t>(impl_->policy_rules->Value());
  result.reloads_succeeded = value_of(impl_->reloads_succeeded);
  result.reloads_failed = value_of(impl_->reloads_failed);
  result.tracked_sockets = impl_->accounting->tracked();
  for (std::size_t i = 0; i < result.errors.size(); ++i) {
    result.errors[i] = value_of(impl_->errors[i]);
  }
  return result;
}

}  // namespace sockgate::metrics
