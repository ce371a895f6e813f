// The control socket of a running gateway, for `sockgate status` and `sockgate reload`.
//
// A client connects to the unix socket, writes one JSON request line such as
// {"command":"status"} and reads one JSON reply; the gateway then closes the connection.
// The socket is created mode 0600, so only the gateway's user can use it.
//
// One thread polls the listener and every open connection, so a client that stalls cannot
// delay the others. A connection must send its request line within kRequestTimeout and take
// its whole reply within kReplyTimeout. Otherwise the server closes it and logs the peer's pid.
// At most kMaxClients connections are open at once, and the server closes any connection beyond
// that as soon as it accepts it.
//
// NOTE: the same thread runs each request, so a reload delays the other clients by the time it
// takes to compile the policy, and a status request by the time it takes to build the reply.
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/fd.hpp"

namespace sockgate {

class Gateway;

// The default control socket of `serve`: $XDG_RUNTIME_DIR/sockgate/control.sock.
std::string default_control_path();
// The control socket of `sockgate run` with process id `pid`.
std::string run_control_path(long pid);

class ControlServer {
 public:
  static constexpr std::size_t kMaxClients = 16;
  static constexpr std::chrono::milliseconds kRequestTimeout{2000};
  static constexpr std::chrono::milliseconds kReplyTimeout{5000};

  // Listens on `path`, replacing a stale socket file. Throws std::system_error.
  ControlServer(std::string path, Gateway& gateway);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  // One accepted connection. The server reads its request until `reply` is set, then sends it
  // the reply.
  struct Client {
    UniqueFd socket;
    std::string peer;  // "pid N" from SO_PEERCRED, for log lines
    std::string request;
    std::string reply;
    std::size_t sent = 0;
    std::chrono::steady_clock::time_point deadline;
    bool finished = false;
  };

  void serve();
  std::vector<pollfd> poll_entries() const;
  int poll_timeout_milliseconds() const;
  void accept_clients();
  void reject(UniqueFd socket);
  void read_request(Client& client);
  void start_reply(Client& client, std::size_t line_length);
  void send_reply(Client& client);
  void close_expired_clients();
  std::string reply_to(const std::string& request_line);
  nlohmann::json handle(const nlohmann::json& request);

  std::string path_;
  Gateway& gateway_;
  UniqueFd listener_;
  UniqueFd stop_;
  // Used only by the server thread.
  std::vector<Client> clients_;
  std::chrono::steady_clock::time_point accept_paused_until_;
  std::size_t rejected_unlogged_ = 0;
  std::chrono::steady_clock::time_point last_rejection_log_;
  std::thread thread_;
};

// Sends one request and returns the reply. Throws std::runtime_error naming the path.
nlohmann::json control_request(const std::string& path, const nlohmann::json& request);

// The status reply: the loaded rules with their hits and bytes, the containers, the totals.
nlohmann::json status_json(Gateway& gateway);
// Prints a status reply as a table, one block per rule, like `pfctl -vsr`.
std::string format_status(const nlohmann::json& status);

}  // namespace sockgate
