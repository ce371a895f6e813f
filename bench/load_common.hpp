// Shared parts of the load generators: endpoints, latency samples and the JSON report.
//
// Design note for bench/. The side-by-side suite runs the same programs directly (the host
// column), under `sockgate run --no-filter --net slirp4netns|pasta`, and under `sockgate run`
// with the built-in policy. Where no Debian tool measures what is needed, a small C++ program
// here is the load generator. They are a connection-rate client, a request/response latency
// client, the server that both clients talk to on the test host, and a loop of non-network
// system calls.
// Each client prints one JSON object on one line of standard output. bench/suite.py runs them,
// repeats each cell, and bench/report.py turns the samples into the table and the plot.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

namespace sockgate::bench {

using Clock = std::chrono::steady_clock;

// An IPv4 or IPv6 address with a port, as the sockets API takes it.
struct Endpoint {
  sockaddr_storage storage{};
  socklen_t length = 0;
  // The text it was parsed from, for messages.
  std::string text;

  int family() const { return storage.ss_family; }
  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Parses "198.18.0.2:7101" or "[2001:db8:1::2]:7101". Throws std::invalid_argument naming the
// text when it is neither.
Endpoint parse_endpoint(std::string_view text);

// Durations in nanoseconds, summarised as percentiles in microseconds.
class LatencySamples {
 public:
  void reserve(std::size_t count) { samples_.reserve(count); }
  void add(Clock::duration duration);
  std::size_t count() const { return samples_.size(); }

  // Returns {"p50", "p90", "p99", "mean", "max"} in microseconds, or an empty object when there
  // are no samples. Sorts the samples.
  nlohmann::json summary_microseconds();

 private:
  std::vector<std::int64_t> samples_;
};

// Seconds between two time points, as a double.
double seconds_between(Clock::time_point start, Clock::time_point end);

// Writes the object as one line on standard output and flushes it, so that a reader gets the
// report before the program goes on to wait (see wait_for_end_of_input).
void print_report(const nlohmann::json& report);

// Blocks until standard input reaches end of file. Used by --hold, so that the caller can read
// the gateway's metrics and memory while the client still runs.
void wait_for_end_of_input();

// Returns the message for errno value `error` with its symbolic name, such as
// "ECONNREFUSED (Connection refused)".
std::string describe_errno(int error);

}  // namespace sockgate::bench
