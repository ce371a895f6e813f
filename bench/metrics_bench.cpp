// Benchmarks of metrics/: the cost added to the decision path (a rule match,
// sockgate_decisions_total and the notification histogram), a scrape of 1,000 rules, and reading
// the kernel's counters of open tracked sockets for a scrape.
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "metrics/metrics.hpp"

namespace {

using sockgate::metrics::Metrics;
using sockgate::metrics::RuleLabels;
using sockgate::rules::Action;
using sockgate::rules::Operation;

std::vector<RuleLabels> make_rules(std::size_t count) {
  std::vector<RuleLabels> rules;
  rules.reserve(count);
  for (std::size_t i = 0; i < count; ++i) {
    const Action action = i % 3 == 0 ? Action::deny : (i % 3 == 1 ? Action::bypass : Action::pass);
    rules.push_back({"rule-" + std::to_string(i), action, true, i % 2 == 0});
  }
  return rules;
}

// One Metrics shared by the threads of a multi-threaded run, as the notification threads share
// the gateway's.
struct Shared {
  Metrics metrics;
  std::shared_ptr<const sockgate::metrics::RuleSeries> series;

  Shared() { series = metrics.bind_rules(make_rules(1000), Action::pass); }
};

Shared& shared() {
  static Shared instance;
  return instance;
}

void BM_CountDecision(benchmark::State& state) {
  const auto& series = *shared().series;
  std::uint32_t rule = static_cast<std::uint32_t>(state.thread_index()) * 7;
  for (auto _ : state) {
    series.count_decision(rule, Operation::connect, Action::bypass);
    rule = rule + 1 == 1000 ? 0 : rule + 1;
  }
}
BENCHMARK(BM_CountDecision)->Threads(1)->Threads(2);

void BM_ObserveNotification(benchmark::State& state) {
  Metrics& metrics = shared().metrics;
  std::chrono::nanoseconds duration{800};
  for (auto _ : state) {
    metrics.observe_notification(duration);
    duration = duration.count() > 2'000'000 ? std::chrono::nanoseconds{800} : duration * 3;
  }
}
BENCHMARK(BM_ObserveNotification)->Threads(1)->Threads(2);

// The whole added cost of one decision.
void BM_DecisionPath(benchmark::State& state) {
  Metrics& metrics = shared().metrics;
  const auto& series = *shared().series;
  std::uint32_t rule = static_cast<std::uint32_t>(state.thread_index()) * 7;
  std::chrono::nanoseconds duration{800};
  for (auto _ : state) {
    series.count_decision(rule, Operation::connect, Action::bypass);
    metrics.observe_notification(duration);
    rule = rule + 1 == 1000 ? 0 : rule + 1;
    duration = duration.count() > 2'000'000 ? std::chrono::nanoseconds{800} : duration * 3;
  }
}
BENCHMARK(BM_DecisionPath)->Threads(1)->Threads(2);

void BM_ScrapeText(benchmark::State& state) {
  Metrics metrics;
  metrics.bind_rules(make_rules(static_cast<std::size_t>(state.range(0))), Action::pass);
  std::size_t bytes = 0;
  for (auto _ : state) {
    bytes = metrics.text().size();
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["text_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_ScrapeText)->Arg(10)->Arg(1000)->Unit(benchmark::kMicrosecond);

// Loopback connections whose client sockets are tracked; the refresh dumps them all.
void BM_RefreshTrackedSockets(benchmark::State& state) {
  const auto connections = static_cast<std::size_t>(state.range(0));
  Metrics metrics;
  const auto series = metrics.bind_rules(make_rules(3), Action::pass);
  const auto source = metrics.open_host_source();

  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t length = sizeof address;
  auto* generic = reinterpret_cast<sockaddr*>(&address);
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  bind(listener, generic, length);
  listen(listener, 1024);
  getsockname(listener, generic, &length);

  std::vector<int> fds;
  for (std::size_t i = 0; i < connections; ++i) {
    const int client = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(client, generic, length) != 0) {
      state.SkipWithError("connect to the loopback listener failed");
      break;
    }
    std::uint64_t cookie = 0;
    socklen_t cookie_length = sizeof cookie;
    getsockopt(client, SOL_SOCKET, SO_COOKIE, &cookie, &cookie_length);
    metrics.track_socket(*source, cookie, *series, 1);
    fds.push_back(client);
    fds.push_back(accept(listener, nullptr, nullptr));
  }
  for (auto _ : state) {
    benchmark::DoNotOptimize(metrics.snapshot());
  }
  for (const int fd : fds) {
    close(fd);
  }
  close(listener);
}
BENCHMARK(BM_RefreshTrackedSockets)->Arg(10)->Arg(400)->Unit(benchmark::kMicrosecond);

}  // namespace

int main(int argc, char** argv) {
  // 400 connections need 801 descriptors; raise the soft limit to the hard one.
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) {
    limit.rlim_cur = limit.rlim_max;
    (void)setrlimit(RLIMIT_NOFILE, &limit);
  }
  benchmark::Initialize(&argc, argv);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
