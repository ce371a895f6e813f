// Rule evaluation: the decision time at 10, 1,000 and 10,000 rules, and the time to parse,
// check and compile a 10,000-rule file.
//
// The policies are generated with a fixed seed as a realistic mix: IPv4 networks from /8 to /32
// with port lists and ranges, IPv6 networks, label conditions, sets, negated items, and bind
// rules with publish. Events hit rules at every depth of the list. The "miss" variants use
// events that no rule matches, so the matcher reads every word of every bit set.
//
//   rules_bench --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <cstdio>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "rules/compiled_policy.hpp"
#include "rules/load.hpp"

namespace {

using namespace sockgate::rules;  // NOLINT(google-build-using-namespace): one short file

struct Workload {
  std::string text;
  std::shared_ptr<const Policy> policy;
  Subject subject;
  std::vector<Event> hits;
  std::vector<Event> misses;
};

std::string ipv4(std::uint32_t value) {
  return std::to_string(value >> 24U) + "." + std::to_string((value >> 16U) & 0xffU) + "." +
         std::to_string((value >> 8U) & 0xffU) + "." + std::to_string(value & 0xffU);
}

// A network in 10.0.0.0/8 or 172.16.0.0/12, masked to its prefix.
std::string ipv4_network(std::mt19937& random, std::uint32_t& base, unsigned& prefix) {
  static const unsigned kPrefixes[] = {8, 16, 20, 24, 24, 24, 28, 32, 32};
  prefix = kPrefixes[random() % std::size(kPrefixes)];
  const std::uint32_t start = random() % 2 == 0 ? 0x0a000000U : 0xac100000U;
  const std::uint32_t mask = prefix == 0 ? 0 : ~0U << (32 - prefix);
  base = (start | (random() & 0x000fffffU)) & mask;
  if (prefix == 8) {
    base = 0x0a000000U;
  }
  return ipv4(base) + "/" + std::to_string(prefix);
}

std::string generate_rule(std::mt19937& random, int index, std::vector<Event>& hits) {
  const std::string name = "rule r" + std::to_string(index) + ": ";
  const std::string app = "svc" + std::to_string(random() % 50);
  std::uint32_t base = 0;
  unsigned prefix = 32;
  Event hit;
  hit.operation = Operation::connect;
  hit.protocol = Protocol::tcp;
  std::string text;

  switch (random() % 20) {
    case 0:
    case 1:
    case 2:
    case 3:
    case 4:
    case 5:
    case 6:
    case 7: {
      text = name + "deny connect tcp to " + ipv4_network(random, base, prefix) + " port 22,3306";
      hit.port = 3306;
      break;
    }
    case 8:
    case 9:
    case 10:
    case 11:
    case 12:
    case 13: {
      text = name + "bypass connect tcp to " + ipv4_network(random, base, prefix) + ", !" +
             ipv4(0x0a636300U) + "/24 port 443,8000-8999 if label app=" + app;
      hit.port = 8443;
      break;
    }
    case 14:
    case 15:
    case 16:
      text = name + "pass connect udp to @resolvers, " + ipv4_network(random, base, prefix) +
             " port 53";
      hit.protocol = Protocol::udp;
      hit.port = 53;
      break;
    case 17:
    case 18: {
      char group[8];
      std::snprintf(group, sizeof group, "%x", static_cast<unsigned>(random() % 65536));
      text = name + "deny connect to 2001:db8:" + group + "::/48 errno EPERM";
      hit.address = *IpAddress::parse(std::string("2001:db8:") + group + "::7");
      hit.port = static_cast<std::uint16_t>(1 + random() % 65535);
      hits.push_back(hit);
      return text + "\n";
    }
    default: {
      const auto port = static_cast<unsigned>(1024 + random() % 20000);
      text = name + "bypass bind tcp port " + std::to_string(port) + " publish " +
             std::to_string(port + 10000) + " if label app=" + app;
      hit.operation = Operation::bind;
      hit.address = IpAddress{};
      hit.port = static_cast<std::uint16_t>(port);
      hits.push_back(hit);
      return text + "\n";
    }
  }
  const auto host_bits =
      static_cast<std::uint32_t>(random() & ((std::uint64_t{1} << (32 - prefix)) - 1));
  const std::uint32_t host = base | host_bits;
  hit.address = *IpAddress::parse(ipv4(host));
  hits.push_back(hit);
  return text + "\n";
}

std::unique_ptr<Workload> make_workload(int rules) {
  auto workload = std::make_unique<Workload>();
  std::mt19937 random(20261204U + static_cast<unsigned>(rules));
  workload->text = "set resolvers = { 10.0.2.3, 192.0.2.53, 2001:db8::53 }\n";
  for (int i = 0; i < rules; ++i) {
    workload->text += generate_rule(random, i, workload->hits);
  }
  workload->text += "default pass\n";

  const LoadResult loaded = load_policy_text("bench.rules", workload->text);
  if (!loaded.ok()) {
    std::fputs(loaded.format_diagnostics().c_str(), stderr);
    return workload;
  }
  workload->policy = loaded.policy;
  workload->subject = loaded.policy->subject(LabelSet({{"app", "svc7"}, {"project", "bench"}}));

  // Documentation addresses that no generated rule covers.
  for (int i = 0; i < 256; ++i) {
    Event miss;
    miss.address = *IpAddress::parse(i % 2 == 0 ? "203.0.113." + std::to_string(i)
                                                : "2001:db9::" + std::to_string(i));
    miss.port = static_cast<std::uint16_t>(20000 + i);
    miss.protocol = i % 3 == 0 ? Protocol::udp : Protocol::tcp;
    workload->misses.push_back(miss);
  }
  return workload;
}

const Workload& workload(int rules) {
  static std::map<int, std::unique_ptr<Workload>> cache;
  auto& entry = cache[rules];
  if (!entry) {
    entry = make_workload(rules);
  }
  return *entry;
}

void decide_loop(benchmark::State& state, const std::vector<Event>& events, const Workload& w) {
  std::size_t next = 0;
  std::size_t matched = 0;
  for (auto _ : state) {
    const Decision decision = w.policy->decide(events[next], w.subject);
    benchmark::DoNotOptimize(decision);
    matched += decision.rule != kDefaultRule ? 1 : 0;
    next = next + 1 == events.size() ? 0 : next + 1;
  }
  state.counters["rules"] = static_cast<double>(w.policy->rules().size());
  if (const auto* compiled = dynamic_cast<const CompiledPolicy*>(w.policy.get())) {
    state.counters["addr_rows"] = static_cast<double>(compiled->index().addresses().row_count());
    state.counters["index_MiB"] =
        static_cast<double>(compiled->index().memory_bytes()) / (1024.0 * 1024.0);
  }
  state.counters["matched"] =
      benchmark::Counter(static_cast<double>(matched), benchmark::Counter::kAvgIterations);
}

void BM_DecideHit(benchmark::State& state) {
  const Workload& w = workload(static_cast<int>(state.range(0)));
  if (!w.policy) {
    state.SkipWithError("the generated policy does not compile");
    return;
  }
  decide_loop(state, w.hits, w);
}

void BM_DecideMiss(benchmark::State& state) {
  const Workload& w = workload(static_cast<int>(state.range(0)));
  if (!w.policy) {
    state.SkipWithError("the generated policy does not compile");
    return;
  }
  decide_loop(state, w.misses, w);
}

void BM_ParseAndCompile(benchmark::State& state) {
  const Workload& w = workload(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    const LoadResult loaded = load_policy_text("bench.rules", w.text);
    benchmark::DoNotOptimize(loaded.policy);
  }
  state.counters["bytes"] = static_cast<double>(w.text.size());
}

void BM_Subject(benchmark::State& state) {
  const Workload& w = workload(static_cast<int>(state.range(0)));
  const LabelSet labels({{"app", "svc7"}, {"project", "bench"}});
  for (auto _ : state) {
    benchmark::DoNotOptimize(w.policy->subject(labels));
  }
}

BENCHMARK(BM_DecideHit)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_DecideMiss)->Arg(10)->Arg(1000)->Arg(10000);
BENCHMARK(BM_Subject)->Arg(10000);
BENCHMARK(BM_ParseAndCompile)->Arg(10000)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
