#include "bench/load_common.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <stdexcept>

namespace sockgate::bench {
namespace {

std::uint16_t parse_port(std::string_view text, std::string_view whole) {
  unsigned value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value == 0 || value > 65535) {
    throw std::invalid_argument("invalid port in endpoint '" + std::string(whole) +
                                "': use ADDRESS:PORT with a port from 1 to 65535");
  }
  return static_cast<std::uint16_t>(value);
}

// Percentile by the nearest-rank method on sorted samples, in microseconds.
double percentile_microseconds(const std::vector<std::int64_t>& sorted, double fraction) {
  auto rank = static_cast<std::size_t>(fraction * static_cast<double>(sorted.size()));
  rank = std::min(rank, sorted.size() - 1);
  return static_cast<double>(sorted[rank]) / 1000.0;
}

}  // namespace

Endpoint parse_endpoint(std::string_view text) {
  Endpoint endpoint;
  endpoint.text = std::string(text);
  std::string address;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    auto close = text.find("]:");
    if (close == std::string_view::npos) {
      throw std::invalid_argument("invalid endpoint '" + endpoint.text +
                                  "': write an IPv6 endpoint as [ADDRESS]:PORT");
    }
    address = std::string(text.substr(1, close - 1));
    port = text.substr(close + 2);
  } else {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
      throw std::invalid_argument("invalid endpoint '" + endpoint.text + "': use ADDRESS:PORT");
    }
    address = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  std::uint16_t port_number = parse_port(port, text);

  auto* v4 = reinterpret_cast<sockaddr_in*>(&endpoint.storage);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&endpoint.storage);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port_number);
    endpoint.length = sizeof(sockaddr_in);
  } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port_number);
    endpoint.length = sizeof(sockaddr_in6);
  } else {
    throw std::invalid_argument("invalid address '" + address + "' in endpoint '" + endpoint.text +
                                "': use an IPv4 or IPv6 address");
  }
  return endpoint;
}

void LatencySamples::add(Clock::duration duration) {
  samples_.push_back(std::chrono::duration_cast<std::chrono::nanoseconds>(duration).count());
}

nlohmann::json LatencySamples::summary_microseconds() {
  if (samples_.empty()) {
    return nlohmann::json::object();
  }
  std::sort(samples_.begin(), samples_.end());
  double total = std::accumulate(samples_.begin(), samples_.end(), 0.0);
  return {
      {"p50", percentile_microseconds(samples_, 0.50)},
      {"p90", percentile_microseconds(samples_, 0.90)},
      {"p99", percentile_microseconds(samples_, 0.99)},
      {"mean", total / static_cast<double>(samples_.size()) / 1000.0},
      {"max", static_cast<double>(samples_.back()) / 1000.0},
  };
}

double seconds_between(Clock::time_point start, Clock::time_point end) {
  return std::chrono::duration<double>(end - start).count();
}

void print_report(const nlohmann::json& report) {
  std::string line = report.dump() + "\n";
  std::fwrite(line.data(), 1, line.size(), stdout);
  std::fflush(stdout);
}

void wait_for_end_of_input() {
  char buffer[256];
  for (;;) {
    ssize_t length = ::read(STDIN_FILENO, buffer, sizeof buffer);
    if (length == 0 || (length < 0 && errno != EINTR)) {
      return;
    }
  }
}

std::string describe_errno(int error) {
  const char* name = ::strerrorname_np(error);
  return std::string(name != nullptr ? name : "errno " + std::to_string(error)) + " (" +
         std::strerror(error) + ")";
}

}  // namespace sockgate::bench
