// The control socket of a running gateway, for `sockgate status` and `sockgate reload`.
//
// A client connects to the unix socket, writes one JSON request line such as
// {"command":"status"} and reads one JSON reply; the gateway then closes the connection.
// The socket is created mode 0600, so only the gateway's user can use it.
#pragma once

#include <string>
#include <thread>

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
  // Listens on `path`, replacing a stale socket file. Throws std::system_error.
  ControlServer(std::string path, Gateway& gateway);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

 private:
  void serve();
  nlohmann::json handle(const nlohmann::json& request);

  std::string path_;
  Gateway& gateway_;
  UniqueFd listener_;
  UniqueFd stop_;
  std::thread thread_;
};

// Sends one request and returns the reply. Throws std::runtime_error naming the path.
nlohmann::json control_request(const std::string& path, const nlohmann::json& request);

// The status reply: the loaded rules with their hits and bytes, the containers, the totals.
nlohmann::json status_json(Gateway& gateway);
// Prints a status reply as a table, one block per rule, like `pfctl -vsr`.
std::string format_status(const nlohmann::json& status);

}  // namespace sockgate
