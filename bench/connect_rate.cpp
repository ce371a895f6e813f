// Connection-rate client: connect, a 1-byte request and its 1-byte reply, close, as fast as one
// thread can, for a fixed time. Prints connections per second and the latency of connect().
//
// The server (bench_server --reply-close) closes first, right after its reply, and the client
// reads that end of file before it closes. So the TIME_WAIT state stays on the server's side and
// back-to-back runs do not run out of the client's ephemeral ports.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <map>
#include <string>

#include "bench/load_common.hpp"
#include "core/fd.hpp"

namespace sockgate::bench {
namespace {

// A run stops early after this many failed connections, because the server or the network is
// then broken and the figure would mean nothing.
constexpr int kMaxErrors = 100;

struct Options {
  std::string server;
  double seconds = 1.0;
  bool hold = false;
};

// Reads exactly `length` bytes; returns 0, or the errno (ECONNRESET for an early end of file).
int read_exactly(int fd, char* buffer, std::size_t length) {
  std::size_t done = 0;
  while (done < length) {
    ssize_t got = ::read(fd, buffer + done, length - done);
    if (got == 0) {
      return ECONNRESET;
    }
    if (got < 0 && errno != EINTR) {
      return errno;
    }
    done += got > 0 ? static_cast<std::size_t>(got) : 0;
  }
  return 0;
}

// Runs one connection; returns 0 or the errno of the step that failed.
int run_connection(const Endpoint& server, LatencySamples& connect_latency) {
  UniqueFd socket(::socket(server.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!socket) {
    return errno;
  }
  Clock::time_point before = Clock::now();
  if (::connect(socket.get(), server.get(), server.length) != 0) {
    return errno;
  }
  connect_latency.add(Clock::now() - before);

  char byte = 'x';
  if (::write(socket.get(), &byte, 1) != 1) {
    return errno;
  }
  if (int error = read_exactly(socket.get(), &byte, 1); error != 0) {
    return error;
  }
  // The server closes after its reply; anything other than end of file is a protocol error.
  ssize_t tail = ::read(socket.get(), &byte, 1);
  if (tail != 0) {
    return tail < 0 ? errno : EPROTO;
  }
  return 0;
}

nlohmann::json run(const Options& options) {
  Endpoint server = parse_endpoint(options.server);
  LatencySamples connect_latency;
  connect_latency.reserve(static_cast<std::size_t>(options.seconds * 20000));
  std::map<std::string, int> errors;
  int error_count = 0;
  std::uint64_t connections = 0;

  Clock::time_point start = Clock::now();
  auto deadline = start + std::chrono::duration_cast<Clock::duration>(
                              std::chrono::duration<double>(options.seconds));
  Clock::time_point now = start;
  while (now < deadline && error_count < kMaxErrors) {
    int error = run_connection(server, connect_latency);
    if (error == 0) {
      ++connections;
    } else {
      ++errors[describe_errno(error)];
      ++error_count;
    }
    now = Clock::now();
  }
  double elapsed = seconds_between(start, now);
  return {
      {"server", server.text},
      {"connections", connections},
      {"seconds", elapsed},
      {"connections_per_second", static_cast<double>(connections) / elapsed},
      {"connect_us", connect_latency.summary_microseconds()},
      {"errors", errors},
  };
}

}  // namespace
}  // namespace sockgate::bench

int main(int argc, char** argv) {
  sockgate::bench::Options options;
  CLI::App app("Measure TCP connections per second: connect, 1-byte request and reply, close");
  app.add_option("--server", options.server, "Server ADDRESS:PORT ([ADDRESS]:PORT for IPv6)")
      ->required();
  app.add_option("--seconds", options.seconds, "Length of the run in seconds")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_flag("--hold", options.hold,
               "After the report, wait until standard input is closed before exiting");
  CLI11_PARSE(app, argc, argv);

  try {
    nlohmann::json report = sockgate::bench::run(options);
    sockgate::bench::print_report(report);
    if (options.hold) {
      sockgate::bench::wait_for_end_of_input();
    }
    return report["connections"].get<std::uint64_t>() > 0 ? 0 : 1;
  } catch (const std::exception& error) {
    std::fprintf(stderr, "bench_connect_rate: %s\n", error.what());
    return 2;
  }
}
