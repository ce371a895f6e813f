// Shared helpers of sockgate-attacker, the hostile program that the attack tests run inside
// `sockgate run` (and directly on the host, for reference). Each scenario prints one JSON object
// as the last line of its standard output.
#pragma once

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace attacker {

using nlohmann::json;

// A socket address parsed from "ADDRESS PORT" on the command line.
struct Target {
  sockaddr_storage storage{};
  socklen_t length = 0;
  int family = AF_INET;

  const sockaddr* get() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

// Parses an IPv4 or IPv6 address and a port; exits with status 2 when the address is invalid.
Target parse_target(const std::string& host, const std::string& port);
// The address 127.0.0.1:PORT.
Target loopback4(int port);

// The symbolic name of an errno value ("0" for success), as the tests compare them.
std::string errno_name(int error);
// Returns 0 when connect() succeeds, else errno.
int connect_errno(int fd, const Target& target);
// Whether the socket lives in another network namespace than a socket made here now.
bool bypassed(int fd);
// The peer of a connected socket as "ADDRESS:PORT", or "" when it has none.
std::string peer_of(int fd);
// Waits up to `timeout_ms` for a non-blocking connect to finish and returns SO_ERROR, or
// ETIMEDOUT when it did not finish in time.
int wait_connected(int fd, int timeout_ms);
// Milliseconds since an arbitrary fixed point (CLOCK_MONOTONIC).
double now_ms();

// What the gateway process (the parent of the command under `sockgate run`) uses now: its open
// descriptors, threads and resident memory in KiB. Zeros when /proc cannot be read.
struct GatewayUsage {
  long descriptors = 0;
  long threads = 0;
  long rss_kib = 0;
};
GatewayUsage gateway_usage();
json to_json(const GatewayUsage& usage);

// One scenario: its arguments after the name, and the report it prints.
using Scenario = json (*)(const std::vector<std::string>& args);

json scenario_race_address(const std::vector<std::string>& args);
json scenario_fd_swap_race(const std::vector<std::string>& args);
json scenario_fastopen_escape(const std::vector<std::string>& args);
json scenario_publish_fastopen(const std::vector<std::string>& args);
json scenario_uring_connect(const std::vector<std::string>& args);
json scenario_uring_escape(const std::vector<std::string>& args);
json scenario_udp_sendto(const std::vector<std::string>& args);
json scenario_int80_connect(const std::vector<std::string>& args);
json scenario_errno_matrix(const std::vector<std::string>& args);
json scenario_signal_connect(const std::vector<std::string>& args);
json scenario_replaced_fd(const std::vector<std::string>& args);
json scenario_connect_listening(const std::vector<std::string>& args);
json scenario_concurrent_connect(const std::vector<std::string>& args);
json scenario_kill_pending(const std::vector<std::string>& args);
json scenario_many_blocking(const std::vector<std::string>& args);
json scenario_short_connections(const std::vector<std::string>& args);
json scenario_fork_storm(const std::vector<std::string>& args);
json scenario_hup_storm(const std::vector<std::string>& args);
json scenario_waiters(const std::vector<std::string>& args);
json scenario_connect_states(const std::vector<std::string>& args);
json scenario_abi_fastopen(const std::vector<std::string>& args);

}  // namespace attacker
