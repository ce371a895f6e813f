// Request/response latency client: one TCP connection to an echo server (bench_server --echo),
// one request in flight at a time, for a fixed time. Prints the round-trip percentiles.
//
// With --hold it keeps the connection open after the report until standard input closes, which
// the suite uses to measure the memory of gateways that each serve one open connection.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <string>
#include <system_error>
#include <vector>

#include "bench/load_common.hpp"
#include "core/fd.hpp"

namespace sockgate::bench {
namespace {

struct Options {
  std::string server;
  double seconds = 1.0;
  std::size_t size = 1;
  // Round trips before the measured ones, so that slow start and first-touch page faults are
  // not counted.
  int warmup = 200;
  bool hold = false;
};

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error(what + " failed: " + describe_errno(errno));
}

UniqueFd connect_to(const Endpoint& server) {
  UniqueFd socket(::socket(server.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) {
    fail("socket");
  }
  int enabled = 1;
  if (::setsockopt(socket.get(), IPPROTO_TCP, TCP_NODELAY, &enabled, sizeof enabled) != 0) {
    fail("setsockopt(TCP_NODELAY)");
  }
  if (::connect(socket.get(), server.get(), server.length) != 0) {
    fail("connect to " + server.text);
  }
  return socket;
}

// Sends the request and reads the whole echo back.
void round_trip(int socket, std::vector<char>& request, std::vector<char>& reply) {
  if (::write(socket, request.data(), request.size()) != static_cast<ssize_t>(request.size())) {
    fail("write");
  }
  std::size_t done = 0;
  while (done < reply.size()) {
    ssize_t got = ::read(socket, reply.data() + done, reply.size() - done);
    if (got == 0) {
      errno = ECONNRESET;
      fail("read of the reply");
    }
    if (got < 0 && errno != EINTR) {
      fail("read of the reply");
    }
    done += got > 0 ? static_cast<std::size_t>(got) : 0;
  }
}

nlohmann::json run(const Options& options, int socket) {
  std::vector<char> request(options.size, 'r');
  std::vector<char> reply(options.size);
  for (int i = 0; i < options.warmup; ++i) {
    round_trip(socket, request, reply);
  }

  LatencySamples samples;
  samples.reserve(static_cast<std::size_t>(options.seconds * 100000));
  Clock::time_point start = Clock::now();
  auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(options.seconds));
  Clock::time_point now = start;
  while (now < deadline) {
    Clock::time_point before = now;
    round_trip(socket, request, reply);
    now = Clock::now();
    samples.add(now - before);
  }
  double elapsed = seconds_between(start, now);
  return {
      {"requests", samples.count()},
      {"seconds", elapsed},
      {"request_bytes", options.size},
      {"requests_per_second", static_cast<double>(samples.count()) / elapsed},
      {"round_trip_us", samples.summary_microseconds()},
  };
}

}  // namespace
}  // namespace sockgate::bench

int main(int argc, char** argv) {
  sockgate::bench::Options options;
  CLI::App app("Measure the round-trip time of requests on one TCP connection to an echo server");
  app.add_option("--server", options.server, "Echo server ADDRESS:PORT ([ADDRESS]:PORT for IPv6)")
      ->required();
  app.add_option("--seconds", options.seconds, "Length of the measured part in seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--size", options.size, "Bytes in each request and reply")
      ->check(CLI::Range(1, 1 << 20))
      ->capture_default_str();
  app.add_option("--warmup", options.warmup, "Round trips before the measured ones")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_flag("--hold", options.hold,
               "After the report, keep the connection open until standard input is closed");
  CLI11_PARSE(app, argc, argv);

  try {
    sockgate::bench::Endpoint server = sockgate::bench::parse_endpoint(options.server);
    sockgate::UniqueFd socket = sockgate::bench::connect_to(server);
    nlohmann::json report = sockgate::bench::run(options, socket.get());
    report["server"] = server.text;
    sockgate::bench::print_report(report);
    if (options.hold) {
      sockgate::bench::wait_for_end_of_input();
    }
    return 0;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_request_latency: %s\n", error.what());
    return 2;
  }
}
